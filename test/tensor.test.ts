import {
  ArgumentError,
  DeviceError,
  FlexconvError,
  Generator,
  ShapeError,
  Tensor,
  cuda,
  keep,
  manualSeed,
  memoryStats,
  tidy,
  emptyCache,
  ops,
} from '../lib';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { native } from '../lib/native';
import { describeCuda } from './helpers';

describe('Tensor creation', () => {
  test('from / zeros / ones / full / arange', () => {
    expect(Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]).toArray()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Tensor.from(new Float32Array([1.5, -2]), [2]).toArray()).toEqual([1.5, -2]);
    expect(Tensor.from([7]).shape).toEqual([1]);
    expect(Tensor.zeros([2, 2]).toArray()).toEqual([0, 0, 0, 0]);
    expect(Tensor.ones([3]).toArray()).toEqual([1, 1, 1]);
    expect(Tensor.full([2], -3.5).toArray()).toEqual([-3.5, -3.5]);
    expect(Tensor.arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(Tensor.arange(1, 2, 0.25).toArray()).toEqual([1, 1.25, 1.5, 1.75]);
    expect(Tensor.arange(3, 0, -1).toArray()).toEqual([3, 2, 1]);
    expect(Tensor.zeros([0, 3]).numel).toBe(0);
    expect(Tensor.zeros([]).numel).toBe(1);
  });

  test('shape, ndim, numel, item', () => {
    const t = Tensor.zeros([2, 3, 4]);
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.ndim).toBe(3);
    expect(t.numel).toBe(24);
    expect(Tensor.full([1, 1], 4).item()).toBe(4);
    expect(() => t.item()).toThrow(ShapeError);
  });

  test('storage is 64-byte aligned native memory shared with JS without copies', () => {
    for (const n of [1, 3, 17, 1000]) {
      const t = Tensor.zeros([n]);
      const before = memoryStats().tensorBytes;
      const view = t.data;
      expect(native().addressAlignment(view)).toBe(0);
      view[0] = 42; // writes through the zero-copy view
      expect(t.toArray()[0]).toBe(42);
      expect(memoryStats().tensorBytes).toBe(before); // reading data allocated nothing
    }
  });

  test('randn and rand are reproducible from a seed and have the right moments', () => {
    manualSeed(123);
    const a = Tensor.randn([20000]).toArray();
    manualSeed(123);
    const b = Tensor.randn([20000]).toArray();
    expect(a).toEqual(b);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    const u = Tensor.rand([20000], { low: -2, high: 2, generator: new Generator(5) }).toArray();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u)).toBeLessThan(2);
    expect(Math.abs(u.reduce((s, v) => s + v, 0) / u.length)).toBeLessThan(0.05);
  });
});

describe('views, copies and disposal', () => {
  test('view/reshape share storage; -1 is inferred', () => {
    const t = Tensor.arange(6);
    const v = t.reshape([2, -1]);
    expect(v.shape).toEqual([2, 3]);
    v.data[0] = 100;
    expect(t.data[0]).toBe(100);
  });

  test('clone copies', () => {
    const t = Tensor.arange(4);
    const c = t.clone();
    c.data[0] = 9;
    expect(t.data[0]).toBe(0);
  });

  test('dispose frees now, twice is harmless, a disposed tensor refuses use', () => {
    const before = memoryStats().tensorBytes;
    const t = Tensor.zeros([1024]);
    expect(memoryStats().tensorBytes).toBe(before + 4096);
    t.dispose();
    t.dispose();
    expect(memoryStats().tensorBytes).toBe(before);
    expect(t.isDisposed).toBe(true);
    expect(() => t.data).toThrow(ArgumentError);
    expect(() => t.toArray()).toThrow(/disposed/);
  });

  test('disposed storage is reused by the next tensor of its size, never reachable through the old one', () => {
    emptyCache();
    const a = Tensor.full([1000], 7);
    const oldView = a.data;
    a.dispose();
    expect(memoryStats().cachedBytes).toBe(4000);
    const b = Tensor.zeros([1000]);
    expect(memoryStats().cachedBytes).toBe(0);
    expect(oldView.buffer).toBe(b.data.buffer); // same memory, handed over zeroed
    expect(b.toArray().every((v) => v === 0)).toBe(true);
    expect(() => ops.matmul(a.view([10, 100]), b.view([100, 10]))).toThrow(/disposed/);
    expect(() => native().gemm(a, a, a, false, false, 1, 0)).toThrow(/disposed/);
    b.dispose();
    emptyCache();
    expect(memoryStats().cachedBytes).toBe(0);
  });

  test("kernels' large scratch blocks are kept for the next call of the same shape, and emptyCache frees them", () => {
    emptyCache();
    // A deformable conv on a 64x64 map needs MB-sized scratch (channels-last copy, sampling plans).
    const x = Tensor.randn([1, 16, 64, 64]);
    const offset = Tensor.randn([1, 18, 64, 64]);
    const w = Tensor.randn([8, 16, 3, 3]);
    const before = memoryStats();
    ops.deformConv2d(x, offset, w, { padding: 1 }).dispose();
    const first = memoryStats();
    expect(first.allocated).toBe(before.allocated); // nothing in use after the call...
    expect(first.cachedBytes).toBeGreaterThan(256 * 1024); // ...but its large blocks are kept
    ops.deformConv2d(x, offset, w, { padding: 1 }).dispose();
    expect(memoryStats().cachedBytes).toBe(first.cachedBytes); // reused, not grown
    emptyCache();
    expect(memoryStats().cachedBytes).toBe(0);
    for (const t of [x, offset, w]) t.dispose();
  });

  test("blocks from 16 KB are kept too: a training conv's per-call Winograd matrices (64 KB each at 128 channels)", () => {
    emptyCache();
    // 128 -> 128 channels on 2 x 16x16 maps: 128 tiles, so the forward transforms and packs its
    // weights per call into 16 matrices of 128 x 128 floats.
    const x = Tensor.randn([2, 128, 16, 16]);
    const w = Tensor.randn([128, 128, 3, 3]);
    const before = memoryStats();
    ops.conv2d(x, w, { padding: 1 }).dispose();
    const first = memoryStats();
    expect(first.allocated).toBe(before.allocated);
    // The transformed weights (one 1 MB block, kept before too) and their 16 packed matrices.
    expect(first.cachedBytes - before.cachedBytes).toBeGreaterThanOrEqual(2 * 16 * 128 * 128 * 4);
    ops.conv2d(x, w, { padding: 1 }).dispose();
    expect(memoryStats().cachedBytes).toBe(first.cachedBytes); // reused, not grown
    emptyCache();
    for (const t of [x, w]) t.dispose();
  });

  test('storage lives until its last view is disposed', () => {
    const before = memoryStats().tensorBytes;
    const t = Tensor.zeros([256]);
    const v = t.view([16, 16]);
    t.dispose();
    expect(memoryStats().tensorBytes).toBe(before + 1024);
    expect(v.data.length).toBe(256);
    v.dispose();
    expect(memoryStats().tensorBytes).toBe(before);
  });

  test('tidy disposes intermediates and keeps what is returned or kept', () => {
    const before = memoryStats().tensorBytes;
    let kept: Tensor | undefined;
    const result = tidy(() => {
      Tensor.zeros([100]);
      Tensor.ones([100]);
      kept = keep(Tensor.ones([10]));
      return { out: Tensor.full([5], 2) };
    });
    expect(result.out.toArray()).toEqual([2, 2, 2, 2, 2]);
    expect(kept!.toArray().length).toBe(10);
    expect(memoryStats().tensorBytes).toBe(before + 60);
    result.out.dispose();
    kept!.dispose();
    expect(memoryStats().tensorBytes).toBe(before);
  });

  test('tidy disposes its tensors when fn throws', () => {
    const before = memoryStats().tensorBytes;
    expect(() =>
      tidy(() => {
        Tensor.zeros([1000]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(memoryStats().tensorBytes).toBe(before);
  });

  test('nested tidy moves returned tensors to the parent scope', () => {
    const before = memoryStats().tensorBytes;
    tidy(() => {
      const inner = tidy(() => Tensor.zeros([10]));
      expect(inner.isDisposed).toBe(false);
      return undefined;
    });
    expect(memoryStats().tensorBytes).toBe(before);
  });

  test('native memory stays flat over a million created-and-dropped tensors', () => {
    // Collect before each RSS reading: the million tensor objects are JS garbage, whose
    // collection time (and so the RSS) would otherwise depend on what else the machine runs.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    gc();
    const start = memoryStats().tensorBytes;
    const rss0 = process.memoryUsage().rss;
    for (let round = 0; round < 100; round++) {
      tidy(() => {
        for (let i = 0; i < 10000; i++) Tensor.empty([16]);
      });
    }
    expect(memoryStats().tensorBytes).toBe(start);
    gc();
    // 1e6 tensors of 64 bytes would be 64 MB plus per-object overhead if they leaked.
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('devices', () => {
  test('cuda.isAvailable answers without throwing', () => {
    expect(typeof cuda.isAvailable()).toBe('boolean');
    expect(typeof cuda.isCompiled()).toBe('boolean');
  });

  const noGpu = cuda.isAvailable() ? test.skip : test;
  noGpu('without a CUDA device, moving a tensor to cuda is a DeviceError (no GPU here)', () => {
    expect(() => Tensor.zeros([2], { device: 'cuda' })).toThrow(DeviceError);
    expect(() => Tensor.zeros([2]).to('cuda')).toThrow(DeviceError);
  });

  describeCuda('tensor.test')('on a CUDA device', () => {
    test('round trip cpu -> cuda -> cpu', () => {
      const t = Tensor.arange(10);
      expect(t.to('cuda').to('cpu').toArray()).toEqual(t.toArray());
      expect(() => t.to('cuda').data).toThrow(DeviceError);
    });
  });
});

describe('bad input gives typed errors naming the argument', () => {
  test.each([
    [() => Tensor.zeros([2, -1]), /shape.*non-negative integers.*-1/],
    [() => Tensor.zeros([2.5]), /shape.*non-negative integers/],
    [() => Tensor.from([1, 2, 3], [2, 2]), /expected data to have 4 elements.*received 3/],
    [() => Tensor.from('abc' as unknown as number[]), /expected data to be a Float32Array or an array of numbers/],
    [() => Tensor.arange(6).reshape([4, -1]), /cannot infer -1/],
    [() => Tensor.arange(6).reshape([4, 2]), /has 8 elements.*has 6/],
    [() => Tensor.zeros([2], { device: 'tpu' as 'cpu' }), /device to be 'cpu' or 'cuda'.*"tpu"/],
  ])('%#', (fn, message) => {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FlexconvError);
    expect((error as FlexconvError).code).toMatch(/^ERR_/);
    expect((error as Error).message).toMatch(message);
  });
});

describe('memoryStats counts live storage', () => {
  test('tensors dropped without dispose leave tensorBytes once the garbage collector reclaims them', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const before = memoryStats().tensorBytes;
    for (let i = 0; i < 50; i++) Tensor.empty([1 << 18]); // 50 MB, never disposed
    expect(memoryStats().tensorBytes).toBeGreaterThanOrEqual(before + 50 * (1 << 20));
    for (let round = 0; round < 5 && memoryStats().tensorBytes > before + (8 << 20); round++) {
      gc();
      await new Promise((r) => setTimeout(r, 10)); // finalizers run as tasks after the collection
    }
    expect(memoryStats().tensorBytes).toBeLessThan(before + (8 << 20));
  });
});
