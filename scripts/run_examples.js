#!/usr/bin/env node
// Runs every examples/*.ts with ts-node (type-checked against the built package, dist/), one
// process each, and fails if any exits non-zero or runs past its time limit. `npm run
// examples`; CI runs it after the build.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'examples');
const LIMIT_MS = 180_000;

if (!fs.existsSync(path.join(root, 'dist', 'lib', 'index.js'))) {
  console.error('run_examples: dist/ is missing; run `npm run build` (the examples import the built package)');
  process.exit(2);
}
const only = process.argv.slice(2);
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && (only.length === 0 || only.some((o) => f.includes(o))))
  .sort();
const tsNode = require.resolve('ts-node/dist/bin.js', { paths: [root] });
const failed = [];
for (const file of files) {
  const started = Date.now();
  console.log(`--- examples/${file}`);
  const r = spawnSync(process.execPath, [tsNode, '--project', path.join(dir, 'tsconfig.json'), path.join(dir, file)], {
    cwd: root,
    stdio: 'inherit',
    timeout: LIMIT_MS,
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (r.status === 0) console.log(`--- ok (${seconds} s)`);
  else {
    failed.push(file);
    console.log(`--- FAILED (${r.error ? r.error.message : `exit ${r.status ?? r.signal}`}, ${seconds} s)`);
  }
}
if (files.length === 0) {
  console.error('run_examples: no example matched');
  process.exit(2);
}
if (failed.length > 0) {
  console.error(`${failed.length} of ${files.length} examples failed: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`all ${files.length} examples ran`);
