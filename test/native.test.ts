/** The addon itself: loading (also in worker_threads), typed errors from C++, threads. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ArgumentError, availableIsas, getNumThreads, isa, setNumThreads, setIsa, ShapeError, Tensor } from '../lib';
import { native } from '../lib/native';

describe('native addon', () => {
  test('C++ errors arrive as typed JS errors with a code, never a crash', () => {
    const a = Tensor.zeros([1, 2, 3]);
    expect(() => native().gemm(a, a, a, false, false, 1, 0)).toThrow(ShapeError);
    // Deliberately ill-typed calls, past NativeApi's types: the binding must refuse them itself.
    const untyped = native() as unknown as Record<string, (...args: unknown[]) => unknown>;
    expect(() => untyped.gemm(a, 'x', a, false, false, 1, 0)).toThrow(ArgumentError);
    expect(() => untyped.gemm(a, { shape: [1, 2, 3], buffer: new Float32Array(2) }, a, false, false, 1, 0)).toThrow(
      /shape \[1, 2, 3\] \(6 elements\) but its buffer holds 2/,
    );
    expect(() => untyped.gemm(a, { shape: [1, -2, 3], buffer: new Float32Array(6) }, a, false, false, 1, 0)).toThrow(
      /non-negative integers/,
    );
    // A getter that throws: its error comes through as it is (the binding reads with raw N-API).
    const trap = Object.defineProperty({ buffer: new Float32Array(6) }, 'shape', {
      get() {
        throw new RangeError('shape getter refused');
      },
    });
    expect(() => untyped.gemm(a, trap, a, false, false, 1, 0)).toThrow(/shape getter refused/);
    expect(() => untyped.gemm(a, [1, 2, 3], a, false, false, 1, 0)).toThrow(
      /with a shape array\) but received an array/,
    );
    expect(() => untyped.gemm(a, { shape: [1, 2, 3], buffer: new Float64Array(6) }, a, false, false, 1, 0)).toThrow(
      /expected b.buffer to be a Float32Array/,
    );
    expect(() => native().gemm(a, a, a, false, false, 1, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_SHAPE_MISMATCH' }),
    );
    // Conv-like ops take their window as one options object, checked field by field.
    const x = Tensor.zeros([1, 2, 5, 5]),
      w = Tensor.zeros([3, 2, 3, 3]),
      out = Tensor.zeros([1, 3, 3, 3]);
    expect(() => untyped.conv2d(x, w, null, out, [1, 1], [0, 0], [1, 1], 1)).toThrow(
      /conv2d: expected options to be an options object but received/,
    );
    expect(() =>
      untyped.conv2d(x, w, null, out, { stride: [1, 1], padding: [0], dilation: [1, 1], groups: 1 }),
    ).toThrow(/expected options.padding to hold 2 integers/);
    for (const stride of [[1, 0], [1, 1.5], [1, 1, 1], '11', [1, Number.NaN]]) {
      expect(() => untyped.conv2d(x, w, null, out, { stride, padding: [0, 0], dilation: [1, 1], groups: 1 })).toThrow(
        /expected options.stride to hold 2 integers >= 1 \(\[h, w\]\) but received/,
      );
    }
    expect(() =>
      untyped.conv2d(x, w, null, out, { stride: [1, 1], padding: [0, -1], dilation: [1, 1], groups: 1 }),
    ).toThrow(/expected options.padding to hold 2 integers >= 0/);
    expect(() => untyped.conv2d(x, w, null, out, { stride: [1, 1], padding: [0, 0], dilation: [1, 1] })).toThrow(
      /expected options.groups to be an integer but received undefined/,
    );
    // ... and so do the pooling ops.
    expect(() => untyped.maxPool2dForward(x, out, null, [3, 3], [1, 1], [0, 0], [1, 1], false)).toThrow(
      /maxPool2dForward: expected options to be an options object/,
    );
    const window = { kernelSize: [3, 3], stride: [1, 1], padding: [0, 0], ceilMode: false };
    expect(() => untyped.avgPool2dForward(x, out, window)).toThrow(/options.countIncludePad to be a boolean/);
    expect(() => untyped.avgPool2dForward(x, out, { ...window, padding: [2, 2], countIncludePad: true })).toThrow(
      /padding must be at most half the kernel size/,
    );
  });

  test('a disposed tensor passed to native code is refused, not read', () => {
    const a = Tensor.zeros([1, 4, 4]);
    const b = Tensor.zeros([1, 4, 4]);
    b.dispose();
    expect(() => native().gemm(a, b, a, false, false, 1, 0)).toThrow(/was it disposed/);
  });

  test('thread count and ISA settings validate their arguments', () => {
    const n = getNumThreads();
    expect(n).toBeGreaterThanOrEqual(1);
    expect(() => setNumThreads(0)).toThrow(ArgumentError);
    expect(() => setNumThreads(1.5)).toThrow(/positive integer/);
    expect(() => setIsa('sse9' as 'avx2')).toThrow(/one of 'avx512', 'avx2', 'portable'/);
    // An instruction set the CPU lacks is refused, not silently clamped to a lower one.
    const all = ['portable', 'avx2', 'avx512'] as const;
    const detected = isa().detected;
    for (const cap of all.slice(all.indexOf(detected) + 1)) expect(() => setIsa(cap)).toThrow(/this CPU supports/);
    expect(availableIsas()).toEqual(all.slice(0, all.indexOf(detected) + 1));
    setNumThreads(1);
    expect(getNumThreads()).toBe(1);
    setNumThreads(n);
  });

  test('loads and computes inside a worker thread (context-aware addon)', async () => {
    const root = path.resolve(__dirname, '..');
    // The worker loads the compiled addon directly and runs a GEMM through it.
    const addonPath = path.join(root, process.env.FLEXCONV_BUILD_DIR || 'build', 'Release', 'flexconv.node');
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData);
      class ShapeError extends Error {}
      addon.setErrorClasses({ ERR_SHAPE_MISMATCH: ShapeError });
      const t = (shape, v) => ({ shape, buffer: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(v) });
      const a = t([1, 2, 2], 1), c = t([1, 2, 2], 0);
      addon.gemm(a, a, c, false, false, 1, 0);
      let typed = false;
      try { addon.gemm(a, t([1, 3, 3], 1), c, false, false, 1, 0); } catch (e) { typed = e instanceof ShapeError; }
      parentPort.postMessage({ values: Array.from(c.buffer), typed });
      `,
      { eval: true, workerData: addonPath },
    );
    const result = await new Promise<{ values: number[]; typed: boolean }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(result.values).toEqual([2, 2, 2, 2]);
    expect(result.typed).toBe(true);
  });

  test('an addon chosen by FLEXCONV_ADDON or FLEXCONV_BUILD_DIR is loaded or the load fails: no silent fallback', () => {
    const root = path.resolve(__dirname, '..');
    // A fresh process (the addon is loaded once per process), through the compiled library.
    const load = (env: Record<string, string>) =>
      spawnSync(process.execPath, ['-e', "console.log(require('./dist/lib').isa().active)"], {
        cwd: root,
        env: { ...process.env, ...env },
        encoding: 'utf8',
      });
    const wrongChoices: Record<string, string>[] = [
      { FLEXCONV_ADDON: path.join(root, 'no-such-dir', 'flexconv.node') },
      { FLEXCONV_BUILD_DIR: 'no-such-build' },
    ];
    for (const env of wrongChoices) {
      const r = load(env);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/the native addon could not be loaded/);
      expect(r.stderr).toContain(Object.values(env)[0]);
    }
    const ok = load({ FLEXCONV_BUILD_DIR: process.env.FLEXCONV_BUILD_DIR || 'build' });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
  });
});
