/** profile(): native kernel times, against the calls the code under test is known to make. */
import { ArgumentError, ops, profile, Tensor, tidy } from '../lib';
import { native } from '../lib/native';

test('counts each native kernel a training step calls, and restores the addon afterwards', async () => {
  const x = Tensor.randn([2, 3, 8, 8]);
  const w = Tensor.randn([4, 3, 3, 3]).requireGrad();
  const before = native().conv2d;
  const { result, report } = await profile(() =>
    tidy(() => {
      const y = ops.conv2d(x, w, { padding: 1 });
      ops.sum(y).backward();
      return y.shape;
    }),
  );
  expect(result).toEqual([2, 4, 8, 8]);
  const calls = Object.fromEntries(report.kernels.map((k) => [k.kernel, k.calls]));
  // One forward; the weight gradient only (x does not require grad).
  expect(calls.conv2d).toBe(1);
  expect(calls.conv2dBackwardWeight).toBe(1);
  expect(calls.conv2dBackwardInput).toBeUndefined();
  for (const k of report.kernels) {
    expect(k.ms).toBeGreaterThanOrEqual(0);
    expect(k.share).toBeCloseTo(k.ms / report.totalMs, 10);
  }
  expect(report.nativeMs).toBeLessThanOrEqual(report.totalMs);
  expect(report.kernels.map((k) => k.ms)).toEqual([...report.kernels.map((k) => k.ms)].sort((a, b) => b - a));
  expect(report.toString()).toMatch(/^kernel +ms +calls +share\n/);
  expect(report.toString()).toMatch(/conv2dBackwardWeight +[\d.]+ +1 +[\d.]+%/);
  expect(native().conv2d).toBe(before);
  w.grad?.dispose();
});

test('restores the addon when the profiled function throws; profiles do not nest', async () => {
  const before = native().conv2d;
  await expect(profile(() => ops.conv2d(Tensor.zeros([1, 2, 4, 4]), Tensor.zeros([1, 3, 3, 3])))).rejects.toThrow(
    /channels/,
  );
  expect(native().conv2d).toBe(before);
  await expect(profile(() => profile(() => 1))).rejects.toThrow(ArgumentError);
  expect(native().conv2d).toBe(before);
  await expect(profile('not a function' as never)).rejects.toThrow(/expected fn to be a function but received string/);
});
