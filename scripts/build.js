#!/usr/bin/env node
// Builds the native addon (cmake-js; CUDA when nvcc is found) and the TypeScript.
// Runs on `npm install`. Plain JavaScript because it runs before anything is compiled.
//
//   node scripts/build.js                 both
//   node scripts/build.js --native-only   only the addon
//   node scripts/build.js --ts-only       only the TypeScript
// Environment:
//   FLEXCONV_CUDA=auto|on|off   CUDA backend (default auto: on when nvcc is found)
//   FLEXCONV_CUDA_ARCHS=...     CMAKE_CUDA_ARCHITECTURES override, e.g. "86" or "80;90"
//   FLEXCONV_MPI=auto|on|off    the MPI engine of lib/distributed (build/Release/flexconv_mpi.node)
//   FLEXCONV_SANITIZE=on        AddressSanitizer + UBSan (use with FLEXCONV_BUILD_DIR; run with libasan preloaded)
//   FLEXCONV_BUILD_DIR=build    where cmake-js builds (build/Release/flexconv.node)
//   FLEXCONV_X86_KERNELS=off    leave out the AVX2 / AVX-512 kernels (default: on for x86-64
//                               only; CI uses off to check the build other processors get)
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = new Set(process.argv.slice(2));

function run(cmd, cmdArgs, extraEnv = {}) {
  console.log(`[flexconv] ${cmd} ${cmdArgs.join(' ')}`);
  const result = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env: { ...process.env, ...extraEnv } });
  if (result.status !== 0) {
    console.error(`[flexconv] build step failed: ${cmd} ${cmdArgs.join(' ')}`);
    process.exit(result.status ?? 1);
  }
}

function findNvcc() {
  const candidates = [];
  if (process.env.CUDACXX) candidates.push(process.env.CUDACXX);
  for (const dir of (process.env.PATH || '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'nvcc'));
  if (process.env.CUDA_PATH) candidates.push(path.join(process.env.CUDA_PATH, 'bin', 'nvcc'));
  candidates.push('/usr/local/cuda/bin/nvcc');
  return candidates.find((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function buildNative() {
  const mode = (process.env.FLEXCONV_CUDA || 'auto').toLowerCase();
  if (!['auto', 'on', 'off'].includes(mode)) {
    console.error(`[flexconv] FLEXCONV_CUDA must be auto, on or off but is "${process.env.FLEXCONV_CUDA}"`);
    process.exit(1);
  }
  const cmakeArgs = [`--CDFLEXCONV_CUDA=${mode}`];
  const mpi = (process.env.FLEXCONV_MPI || 'auto').toLowerCase();
  if (!['auto', 'on', 'off'].includes(mpi)) {
    console.error(`[flexconv] FLEXCONV_MPI must be auto, on or off but is "${process.env.FLEXCONV_MPI}"`);
    process.exit(1);
  }
  cmakeArgs.push(`--CDFLEXCONV_MPI=${mpi}`);
  if (process.env.FLEXCONV_SANITIZE === 'on') cmakeArgs.push('--CDFLEXCONV_SANITIZE=ON');
  if (mode !== 'off') {
    const nvcc = findNvcc();
    if (nvcc) {
      console.log(`[flexconv] CUDA compiler: ${nvcc}`);
      cmakeArgs.push(`--CDCMAKE_CUDA_COMPILER=${nvcc}`);
    } else if (mode === 'on') {
      console.error('[flexconv] FLEXCONV_CUDA=on but nvcc was not found (PATH, CUDACXX, CUDA_PATH, /usr/local/cuda).');
      process.exit(1);
    } else {
      console.log('[flexconv] nvcc not found: building the CPU backend only.');
    }
  }
  const simd = (process.env.FLEXCONV_X86_KERNELS || '').toLowerCase();
  if (simd === 'off' || simd === 'on') cmakeArgs.push(`--CDFLEXCONV_X86_KERNELS=${simd.toUpperCase()}`);
  const out = process.env.FLEXCONV_BUILD_DIR || 'build';
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const jobs = String(Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length));
  run(process.execPath, [cmakeJs, 'build', '-O', out, '-p', jobs, ...cmakeArgs]);
}

function buildTypeScript() {
  // An installed package ships its compiled JavaScript (dist/) and no tsconfig.json; a
  // TypeScript the user's project installed must not be asked to compile it.
  if (!fs.existsSync(path.join(root, 'tsconfig.json'))) {
    if (fs.existsSync(path.join(root, 'dist', 'lib', 'index.js'))) return;
    console.error('[flexconv] neither tsconfig.json nor dist/ is here: this copy of flexconv is incomplete.');
    process.exit(1);
  }
  let tsc;
  try {
    tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
  } catch {
    if (fs.existsSync(path.join(root, 'dist', 'lib', 'index.js'))) return; // installed package: prebuilt JS
    console.error('[flexconv] typescript is not installed and dist/ is missing: run npm install in the repo.');
    process.exit(1);
  }
  run(process.execPath, [tsc, '-p', 'tsconfig.json']);
}

if (!args.has('--ts-only')) buildNative();
if (!args.has('--native-only')) buildTypeScript();
