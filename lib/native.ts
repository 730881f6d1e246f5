/**
 * Loads the native addon once. If it cannot be loaded, the error lists the likely causes
 * and how to fix each, instead of a bare "Cannot find module".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NativeLoadError, nativeErrorClasses } from './errors';

import type { NativeApi } from './native_api';

/** The addon's exports, typed in lib/native_api.ts. */
export type NativeAddon = NativeApi;

export function packageRoot(): string {
  // lib/native.ts under ts-jest, dist/lib/native.js when compiled: walk up to package.json.
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'CMakeLists.txt'))) return dir;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
}

export function candidatePaths(root: string): string[] {
  // An explicit choice (FLEXCONV_ADDON, FLEXCONV_BUILD_DIR) is loaded or fails with the reason:
  // quietly loading another build instead would hide exactly what the user asked to test.
  const fromEnv = process.env.FLEXCONV_ADDON;
  if (fromEnv) return [path.resolve(fromEnv)];
  const buildDir = process.env.FLEXCONV_BUILD_DIR || 'build';
  return [path.join(root, buildDir, 'Release', 'flexconv.node'), path.join(root, buildDir, 'Debug', 'flexconv.node')];
}

function loadError(root: string, tried: string[], cause: unknown): NativeLoadError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new NativeLoadError(
    [
      'flexconv: the native addon could not be loaded.',
      `  Tried: ${tried.join(', ')}`,
      `  Last error: ${reason}`,
      'Likely causes and fixes:',
      '  - The addon was never built (install scripts disabled, e.g. npm install --ignore-scripts):',
      `      run "npm run build" in ${root}`,
      '  - It was built for another platform or architecture (copied node_modules, Docker layers):',
      '      delete build/ and run "npm run build" on this machine',
      '  - A build tool is missing: flexconv needs cmake >= 3.18 and a C++17 compiler (g++ or clang++);',
      '      on Debian/Ubuntu: apt-get install cmake g++',
      '  - Built with CUDA but the CUDA runtime library cannot be found: the runtime is linked',
      '      statically, so this means a damaged build; rebuild, or set FLEXCONV_CUDA=off to build without CUDA',
      '  - FLEXCONV_ADDON or FLEXCONV_BUILD_DIR points to a wrong file or directory: unset it or fix the path',
    ].join('\n'),
  );
}

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  const root = packageRoot();
  const tried = candidatePaths(root);
  let lastError: unknown = new Error('no candidate file exists');
  for (const file of tried) {
    if (!fs.existsSync(file)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path found at run time
      const loaded = require(file) as NativeAddon;
      loaded.setErrorClasses(nativeErrorClasses);
      addon = loaded;
      return loaded;
    } catch (e) {
      lastError = e;
    }
  }
  throw loadError(root, tried, lastError);
}
