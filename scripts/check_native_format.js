#!/usr/bin/env node
// Checks (or with --fix, rewrites) the formatting of native/ with clang-format and the
// repository's .clang-format. Run by `npm run lint` and CI.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const EXTENSIONS = new Set(['.cc', '.h', '.cu', '.cuh', '.inc']);

function sources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return EXTENSIONS.has(path.extname(e.name)) ? [p] : [];
  });
}

const fix = process.argv.includes('--fix');
const tool = process.env.CLANG_FORMAT || 'clang-format';
const version = spawnSync(tool, ['--version'], { encoding: 'utf8' });
if (version.error || version.status !== 0) {
  console.error(
    `check_native_format: ${tool} was not found; install it (Debian: apt-get install clang-format) or set CLANG_FORMAT`,
  );
  process.exit(2);
}
const files = sources(path.join(root, 'native')).sort();
// .inc files are C++ fragments: tell clang-format so, since it guesses languages by extension.
const args = (file) => [
  ...(fix ? ['-i'] : ['--dry-run', '--Werror']),
  ...(file.endsWith('.inc') ? ['--assume-filename=x.h'] : []),
  file,
];
const bad = [];
for (const file of files) {
  const r = spawnSync(tool, args(file), { encoding: 'utf8' });
  if (r.status !== 0) bad.push(path.relative(root, file));
}
if (bad.length > 0) {
  console.error(
    `clang-format: ${bad.length} of ${files.length} files in native/ need formatting:\n  ${bad.join('\n  ')}`,
  );
  console.error('fix with: node scripts/check_native_format.js --fix');
  process.exit(1);
}
console.log(`clang-format: ${files.length} files in native/ formatted (${version.stdout.trim()})`);
