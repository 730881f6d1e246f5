/**
 * The README's runnable example is what new users paste first: it must run as written against
 * the built package (require('flexconv') from the repo root resolves to this package).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');

function codeBlocks(markdown: string, lang: string): string[] {
  const fence = '```';
  const blocks: string[] = [];
  const pattern = new RegExp(`${fence}${lang}\\n([\\s\\S]*?)${fence}`, 'g');
  for (let m = pattern.exec(markdown); m; m = pattern.exec(markdown)) blocks.push(m[1]);
  return blocks;
}

test('the README "Using it" example runs as written and prints the shapes it promises', () => {
  const blocks = codeBlocks(fs.readFileSync(path.join(root, 'README.md'), 'utf8'), 'js');
  expect(blocks.length).toBe(1);
  // A file in the repo root, so that require('flexconv') resolves as it does for a user's script there.
  const file = path.join(root, `.readme-example-${process.pid}-${os.hostname()}.js`);
  fs.writeFileSync(file, blocks[0]);
  try {
    const r = spawnSync(process.execPath, [file], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // y, x.grad and offset.grad shapes, then one epoch's summary line.
    expect(r.stdout).toContain('[ 2, 4, 16, 16 ] [ 2, 8, 16, 16 ] [ 2, 18, 16, 16 ]');
    expect(r.stdout).toMatch(/epoch 1\/1: loss [\d.]+ acc [\d.]+% \| val loss [\d.]+ acc [\d.]+%/);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('every README snippet compiles under tsc --strict against the built package, as written', () => {
  const markdown = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const snippets = [
    ...codeBlocks(markdown, 'ts').map((code) => ({ code, ext: 'ts' })),
    ...codeBlocks(markdown, 'js').map((code) => ({ code, ext: 'js' })),
  ];
  expect(snippets.length).toBeGreaterThanOrEqual(3);
  // In the repo root, so that 'flexconv' resolves to this package (its "exports" and types) as
  // it does for a user's project that installed it.
  const dir = fs.mkdtempSync(path.join(root, '.readme-snippets-'));
  try {
    const files = snippets.map((s, i) => {
      const file = path.join(dir, `snippet${i}.${s.ext}`);
      fs.writeFileSync(file, s.code);
      return file;
    });
    const tsc = require.resolve('typescript/bin/tsc');
    const r = spawnSync(
      process.execPath,
      [
        tsc,
        '--strict',
        '--noEmit',
        '--allowJs',
        '--checkJs',
        '--module',
        'node16',
        '--moduleResolution',
        'node16',
        '--target',
        'es2022',
        '--types',
        'node',
        '--skipLibCheck',
        'false',
        ...files,
      ],
      { cwd: root, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
