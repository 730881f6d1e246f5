/** Shared test utilities: tolerance checks that report where and by how much values differ. */
import { availableIsas, cuda, isa, Isa, setIsa } from '../lib';

export function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

/** The largest difference relative to the largest magnitude of `expected` (the tensor's scale). */
export function maxRelDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
  return maxAbsDiff(actual, expected) / Math.max(scale, 1e-30);
}

/** Asserts |actual - expected| <= atol + rtol * |expected| everywhere. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-4, rtol = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i]);
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol)) {
      throw new Error(`mismatch at index ${i}: got ${actual[i]}, expected ${expected[i]} (|diff| ${d} > tol ${tol})`);
    }
  }
}

/**
 * Runs `fn` once under every instruction set this CPU has (portable first), restoring the
 * active one afterwards, so a kernel test covers the portable, AVX2 and AVX-512 paths.
 */
export function forEachIsa(fn: (isa: Isa) => void): void {
  const active = isa().active;
  try {
    for (const cap of availableIsas()) {
      setIsa(cap);
      fn(cap);
    }
  } finally {
    setIsa(active);
  }
}

/**
 * `describe` for GPU tests: they run where a CUDA device is present; elsewhere they are skipped
 * visibly, or, with FLEXCONV_REQUIRE_CUDA=1 (GPU runs: scripts/gpu-check, the CUDA workflow),
 * they fail, so a GPU run can never pass by skipping.
 */
export function describeCuda(file: string): (name: string, fn: () => void) => void {
  if (cuda.isAvailable()) return describe;
  if (process.env.FLEXCONV_REQUIRE_CUDA === '1') {
    return (name, _fn) =>
      describe(name, () => {
        test('needs a CUDA device', () => {
          const why = cuda.isCompiled()
            ? 'the addon has CUDA but no device is visible'
            : 'the addon was built without CUDA';
          throw new Error(`${file}: FLEXCONV_REQUIRE_CUDA=1 but ${why}`);
        });
      });
  }
  console.log(`${file}: no CUDA device, GPU tests skipped`);
  return describe.skip;
}
