/**
 * The fuzz suite in CI (scripts/fuzz.ts, `npm run fuzz -- --cases N` for more): thousands of
 * seeded cases over the ops, layer constructors, models, data, readers and ONNX loading, each
 * a typed FlexconvError or a valid result, never a generic error, a silent acceptance of a
 * certainly invalid call, a crash or a hang. And the runner itself notices each failure kind.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');
const runner = path.join(root, 'dist/scripts/fuzz.js');

function fuzz(args: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [runner, ...args], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  // The runner runs dist/: refuse a stale build rather than fuzz old code.
  for (const f of ['scripts/fuzz/targets', 'scripts/fuzz/worker', 'scripts/fuzz']) {
    const out = path.join(root, 'dist', `${f}.js`);
    if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(path.join(root, `${f}.ts`)).mtimeMs) {
      throw new Error(`dist/${f}.js is older than ${f}.ts: run npm run build:ts`);
    }
  }
});

test('3,000 seeded cases: only typed errors and valid results', () => {
  const r = fuzz(['--cases', '3000', '--seed', '11']);
  expect(r.out).toMatch(/fuzz: 3000 cases, seed 11, \d+ s: OK \d+, TYPED \d+, GENERIC 0, SILENT 0, CRASH 0, HANG 0/);
  expect(r.status).toBe(0);
  // Every target family was exercised.
  const targets = /targets: (.*)/.exec(r.out)?.[1] ?? '';
  expect(targets.split(', ').length).toBeGreaterThanOrEqual(25);
});

test.each([
  ['crash', /CRASH case 0: exit null signal SIGSEGV/],
  ['hang', /HANG case 0: no progress for 3000 ms/],
  ['generic', /GENERIC case 0: \S+ TypeError: self-test: a generic error/],
])('the runner reports a %s and carries on with the next case', (kind, pattern) => {
  const r = fuzz(['--cases', '20', '--seed', '3', '--timeout-ms', '3000'], { FLEXCONV_FUZZ_SELFTEST: kind });
  expect(r.status).toBe(1);
  expect(r.out).toMatch(pattern);
  // The other 19 cases still ran.
  const counts = /OK (\d+), TYPED (\d+)/.exec(r.out);
  expect(Number(counts?.[1]) + Number(counts?.[2])).toBe(19);
});
