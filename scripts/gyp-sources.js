#!/usr/bin/env node
// Prints the native sources for binding.gyp, with the same globs as CMakeLists.txt
// (native/core, native/cpu recursively, native/binding; CUDA is CMake-only). binding.gyp
// calls this at build time, so the two builds can never list different files.
//
//   node scripts/gyp-sources.js common | avx512 | avx2
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function listSources(dir) {
  const out = [];
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...listSources(rel));
    else if (entry.name.endsWith('.cc')) out.push(rel);
  }
  return out;
}

const all = ['native/core', 'native/cpu', 'native/binding'].flatMap(listSources).sort();
const kind = process.argv[2];
const isIsa = (s, isa) => s.endsWith(`_${isa}.cc`);
const pick = {
  common: (s) => !isIsa(s, 'avx512') && !isIsa(s, 'avx2'),
  avx512: (s) => isIsa(s, 'avx512'),
  avx2: (s) => isIsa(s, 'avx2'),
}[kind];
if (!pick) {
  console.error('usage: gyp-sources.js common|avx512|avx2');
  process.exit(1);
}
console.log(all.filter(pick).join('\n'));
