/**
 * Winograd F(2x2, 3x3) convolution, the path conv2dFused takes for packed 3x3 weights
 * (native/cpu/conv2d_winograd.h): compared with PyTorch's output (a committed golden fixture)
 * and with the naive float64 convolution on the geometries its tiling has to get right — rows
 * wider than one vector of tiles, maps of 2 tiles per row packed several to a vector, chunks
 * that cross images, odd output sizes, padding 0 and 2, bias, residual and ReLU — plus the
 * same bits at any thread count, PyTorch's NaN and inf propagation, and the handle's own copy.
 * The weight gradient by Winograd (training) against the float64 one on the geometries its
 * halves and chunks have to get right, at 1 and 2 threads, and with non-finite values.
 */
import { noGrad } from '../lib/autograd';
import * as ops from '../lib/ops';
import { manualSeed } from '../lib/random';
import { availableIsas, getNumThreads, isa, setIsa, setNumThreads } from '../lib/system';
import { Tensor } from '../lib/tensor';
import { maxRelDiff } from './helpers';
import {
  describeWinograd as describeWinogradIn,
  directConv,
  dynamicInputs,
  dynamicRunsAgainstReference,
  inputGradientTwoWays,
  reference,
  run,
  WinogradCase,
} from './winograd_helpers';
import { convGeom, refConv2d, refConv2dGradInput, refConv2dGradWeight } from './reference/conv';
import { DynGeom, dynamicConvBackward, dynamicConvForward } from './reference/dynamic_conv';
import { expectMatchesFixture, loadFixtures, toTensor } from './torch_fixtures';

const describeWinograd = describeWinogradIn('test/winograd.test.ts');

const CASES: WinogradCase[] = [
  { name: 'rows of 19 tiles (wider than a vector), odd output', input: [2, 32, 7, 37], out: 32, padding: 1 },
  {
    name: '4x4 maps: 8 runs of 2 tiles per vector, chunks across images',
    input: [17, 40, 4, 4],
    out: 48,
    padding: 1,
    bias: true,
  },
  { name: 'padding 2, output 11x8', input: [3, 33, 9, 6], out: 35, padding: 2, residual: true, relu: true },
  { name: 'padding 0, output 8x10', input: [4, 32, 10, 12], out: 40, padding: 0, bias: true, relu: true },
  {
    name: 'batch of one 16x16 map',
    input: [1, 64, 16, 16],
    out: 64,
    padding: 1,
    bias: true,
    residual: true,
    relu: true,
  },
  { name: 'three rows of 20 tiles, two images', input: [2, 32, 5, 40], out: 32, padding: 1, residual: true },
  // One 8x8 map (16 tiles, one chunk): the threads split each step from 8 M multiply-adds of the
  // transformed GEMMs (16 x 256 x 256 x 16 here); below that the chunk runs on the calling thread.
  {
    name: 'one 8x8 map, 256 channels: two threads split each step',
    input: [1, 256, 8, 8],
    out: 256,
    padding: 1,
    relu: true,
  },
  {
    name: 'one 8x8 map, 64 channels: one chunk on the calling thread',
    input: [1, 64, 8, 8],
    out: 64,
    padding: 1,
    relu: true,
  },
  // The GEMMs' depth in two blocks (168 + 153 rows of the packed transformed input), a chunk of
  // 49 tiles in two panels of 48 (the chunk is sized to the 520 x 321 weights).
  { name: '321 input channels, 520 outputs', input: [1, 321, 14, 14], out: 520, padding: 1, bias: true },
];

describeWinograd('Winograd F(2x2, 3x3) for packed 3x3 weights', () => {
  const threads = getNumThreads();
  afterEach(() => setNumThreads(threads));

  test('equals PyTorch (golden fixture, 32 channels, 19 tiles per row)', () => {
    const c = loadFixtures('conv2d').find((k) => k.name === 'winograd_k3_pad1_wide')!;
    const x = toTensor(c.tensors.input);
    const w = toTensor(c.tensors.weight);
    const bias = toTensor(c.tensors.bias);
    const packed = ops.packConv2dWeight(w);
    expect(packed.winograd).toBe(true);
    const out = run(x, w, packed, { bias, padding: 1 });
    expectMatchesFixture(out, c.tensors.out, 'winograd_k3_pad1_wide out');
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s: equals the float64 convolution', (_name, c) => {
    manualSeed(31);
    const [, C, H, W] = c.input;
    const x = Tensor.randn([...c.input]);
    const w = Tensor.randn([c.out, C, 3, 3], { std: 0.2 });
    const bias = c.bias ? Tensor.randn([c.out]) : null;
    const outH = H + 2 * c.padding - 2,
      outW = W + 2 * c.padding - 2;
    const residual = c.residual ? Tensor.randn([c.input[0], c.out, outH, outW]) : null;
    const relu = c.relu ?? false;
    const packed = ops.packConv2dWeight(w);
    expect(packed.winograd).toBe(true);
    const expected = reference(x, w, bias, c.padding, residual, relu);
    const results: Float32Array[] = [];
    for (const t of [1, 2]) {
      setNumThreads(t);
      const got = run(x, w, packed, { bias, padding: c.padding, residual, relu });
      expect(got.shape).toEqual([c.input[0], c.out, outH, outW]);
      expect(maxRelDiff(got.data, expected)).toBeLessThan(3e-6);
      // The Winograd path ran: its rounding is not the direct GEMM's (under the AVX2 cap, where
      // unpacked weights cannot take Winograd per call either).
      const direct = directConv(() => run(x, w, null, { bias, padding: c.padding, residual, relu }));
      expect(maxRelDiff(direct.data, expected)).toBeLessThan(3e-6);
      expect(Array.from(got.data)).not.toEqual(Array.from(direct.data));
      results.push(Float32Array.from(got.data));
    }
    // Every tile is computed alike however the work is split.
    expect(Array.from(results[1])).toEqual(Array.from(results[0]));
  });

  test.each([
    ['288 tiles', [2, 32, 24, 23], true],
    ['128 tiles (the least)', [2, 32, 16, 16], true],
    ['126 tiles', [2, 32, 14, 18], false],
  ] as const)(
    'conv2d without packed weights (training), %s: Winograd from 128 tiles (the weight gradient from 64 per half); forward and gradients equal the float64 ones',
    (_name, shape, winograd) => {
      manualSeed(37);
      const x = Tensor.randn([...shape]).requireGrad();
      const w = Tensor.randn([40, 32, 3, 3], { std: 0.2 }).requireGrad();
      const y = ops.conv2d(x, w, { padding: 1 });
      const gy = Tensor.randn(y.shape);
      y.backward(gy);
      const g = convGeom(x.shape, w.shape, [1, 1], [1, 1], [1, 1], 1);
      expect(maxRelDiff(y.data, refConv2d(g, x.data, w.data))).toBeLessThan(3e-6);
      // The input gradient of a stride-1 conv is a conv of gy (40 -> 32 channels, as many tiles): Winograd too.
      expect(maxRelDiff(x.grad!.data, refConv2dGradInput(g, gy.data, w.data))).toBeLessThan(3e-6);
      expect(maxRelDiff(w.grad!.data, refConv2dGradWeight(g, gy.data, x.data))).toBeLessThan(3e-6);
      // Whether it ran by Winograd: the direct convolution rounds differently. The weight
      // gradient too: from 64 tiles per half of the batch.
      const direct = directConv(() => noGrad(() => ops.conv2d(x, w, { padding: 1 })));
      expect(maxRelDiff(direct.data, refConv2d(g, x.data, w.data))).toBeLessThan(3e-6);
      expect(Array.from(direct.data).every((v, i) => v === y.data[i])).toBe(!winograd);
      const wd = w.detach().requireGrad();
      directConv(() => {
        ops.conv2d(x.detach(), wd, { padding: 1 }).backward(gy);
        return wd;
      });
      expect(Array.from(wd.grad!.data).every((v, i) => v === w.grad!.data[i])).toBe(!winograd);
    },
  );

  test('the weight gradient by Winograd gives the same bits at 1, 2, 3 and 5 threads', () => {
    manualSeed(38);
    // 2 x 8 x 8 = 128 tiles of 32 -> 40 channels: the Winograd weight gradient (64 tiles per half).
    const x = Tensor.randn([2, 32, 16, 16]);
    const w = Tensor.randn([40, 32, 3, 3], { std: 0.2 });
    const gy = Tensor.randn([2, 40, 16, 16]);
    const gradient = (threads: number): number[] => {
      setNumThreads(threads);
      const wi = w.detach().requireGrad();
      ops.conv2d(x, wi, { padding: 1 }).backward(gy);
      return Array.from(wi.grad!.data);
    };
    const one = gradient(1);
    const g = convGeom(x.shape, w.shape, [1, 1], [1, 1], [1, 1], 1);
    expect(maxRelDiff(Float32Array.from(one), refConv2dGradWeight(g, gy.data, x.data))).toBeLessThan(3e-6);
    for (const threads of [2, 3, 5]) expect(gradient(threads)).toEqual(one);
  });

  test('gives the same bits at 1, 2 and 3 threads (each tile is computed alike in any chunk)', () => {
    manualSeed(32);
    // 252 tiles: a chunk of 126 tiles per thread at 2 threads, of 84 at 3.
    const x = Tensor.randn([6, 48, 12, 14]);
    const w = Tensor.randn([48, 48, 3, 3], { std: 0.2 });
    const packed = ops.packConv2dWeight(w);
    setNumThreads(1);
    const one = run(x, w, packed, { padding: 1, relu: true });
    for (const threads of [2, 3]) {
      setNumThreads(threads);
      expect(Array.from(run(x, w, packed, { padding: 1, relu: true }).data)).toEqual(Array.from(one.data));
    }
  });

  test('NaN and inf inputs propagate as in PyTorch (only to the outputs whose window holds them)', () => {
    manualSeed(33);
    const x = Tensor.randn([2, 32, 8, 8]);
    const w = Tensor.randn([32, 32, 3, 3], { std: 0.2 });
    // A 4x4 Winograd patch reaches outputs whose 3x3 window misses the value (0 * inf = NaN):
    // conv2dFused must notice and take the direct path.
    x.data[(1 * 32 + 5) * 64 + 3 * 8 + 4] = Number.NaN;
    x.data[(0 * 32 + 7) * 64 + 0 * 8 + 7] = Number.POSITIVE_INFINITY;
    const expected = run(x, w, null, { padding: 1 });
    const got = run(x, w, ops.packConv2dWeight(w), { padding: 1 });
    expect(Array.from(got.data)).toEqual(Array.from(expected.data));
    const finiteOutputs = Array.from(got.data).filter((v) => Number.isFinite(v)).length;
    expect(finiteOutputs).toBeGreaterThan(got.numel / 2); // not everything turned NaN
  });

  test('a non-finite weight keeps the direct path', () => {
    const w = Tensor.randn([32, 32, 3, 3]);
    w.data[100] = Number.POSITIVE_INFINITY;
    const packed = ops.packConv2dWeight(w);
    expect(packed.winograd).toBe(false);
    const x = Tensor.randn([2, 32, 8, 8]);
    expect(Array.from(run(x, w, packed, { padding: 1 }).data)).toEqual(
      Array.from(run(x, w, null, { padding: 1 }).data),
    );
  });

  test('a non-finite weight is noticed wherever it is (vector lanes, the last kernel of a thread, the scalar tail)', () => {
    // 33 x 33 = 1089 kernels: 68 vectors of 16 and one kernel left over at one thread; the
    // threads' ranges end at other kernels.
    for (const t of [1, 2]) {
      setNumThreads(t);
      for (const kernel of [0, 15, 16, 543, 544, 545, 1087, 1088]) {
        for (const value of [Number.NaN, Number.NEGATIVE_INFINITY]) {
          const w = Tensor.randn([33, 33, 3, 3]);
          w.data[kernel * 9 + (kernel % 9)] = value;
          expect([t, kernel, value, ops.packConv2dWeight(w).winograd]).toEqual([t, kernel, value, false]);
        }
      }
    }
    expect(ops.packConv2dWeight(Tensor.randn([33, 33, 3, 3])).winograd).toBe(true);
  });

  test('the handle keeps its own copy; which weights get a Winograd copy', () => {
    manualSeed(34);
    const x = Tensor.randn([2, 32, 10, 10]);
    const w = Tensor.randn([32, 32, 3, 3], { std: 0.2 });
    const packed = ops.packConv2dWeight(w);
    const before = Float32Array.from(run(x, w, packed, { padding: 1 }).data);
    w.data.fill(0);
    expect(Array.from(run(x, w, packed, { padding: 1 }).data)).toEqual(Array.from(before));
    // 16 transformed 32 x 32 matrices next to the 32 x 288 direct one.
    expect(packed.bytes).toBe(4 * (32 * 288 + 16 * 32 * 32));
    expect(ops.packConv2dWeight(Tensor.randn([32, 16, 3, 3])).winograd).toBe(false); // 16 input channels
    expect(ops.packConv2dWeight(Tensor.randn([64, 32, 1, 1])).winograd).toBe(false); // 1x1
    expect(ops.packConv2dWeight(Tensor.randn([64, 16, 3, 3]), 2).winograd).toBe(false); // groups
  });

  test('other geometries with a Winograd handle take the direct path (stride 2, dilation 2, few tiles)', () => {
    manualSeed(35);
    const w = Tensor.randn([32, 32, 3, 3], { std: 0.2 });
    const packed = ops.packConv2dWeight(w);
    for (const [shape, options] of [
      [[2, 32, 9, 9], { stride: 2, padding: 1 }],
      [[2, 32, 9, 9], { dilation: 2, padding: 2 }],
      [[1, 32, 4, 4], { padding: 1 }],
    ] as const) {
      const x = Tensor.randn([...shape]);
      const got = noGrad(() => ops.conv2dFused(x, w, { ...options, packed }));
      const direct = noGrad(() => ops.conv2dFused(x, w, options));
      expect(Array.from(got.data)).toEqual(Array.from(direct.data));
    }
  });

  test('under a lower instruction-set cap the handle is still correct (direct path)', () => {
    const active = isa().active;
    const lower = availableIsas().filter((i) => i !== 'avx512');
    manualSeed(36);
    const x = Tensor.randn([2, 32, 9, 9]);
    const w = Tensor.randn([32, 32, 3, 3], { std: 0.2 });
    const packed = ops.packConv2dWeight(w);
    const expected = reference(x, w, null, 1, null, false);
    try {
      for (const cap of lower) {
        setIsa(cap);
        expect(maxRelDiff(run(x, w, packed, { padding: 1 }).data, expected)).toBeLessThan(3e-6);
      }
    } finally {
      setIsa(active);
    }
  });
});

/** The weight gradient of conv2d (w.grad) for a stride-1 3x3 conv; gy is the output's gradient. */
function weightGrad(x: Tensor, w: Tensor, gy: Tensor, padding: number): Tensor {
  const wg = w.detach().requireGrad();
  ops.conv2d(x, wg, { padding }).backward(gy);
  return wg.grad!;
}

/** conv2d's geometry from a shape, and a random output gradient for it. */
function gradOutFor(x: Tensor, w: Tensor, padding: number): Tensor {
  const [n, , h, wd] = x.shape;
  return Tensor.randn([n, w.shape[0], h + 2 * padding - 2, wd + 2 * padding - 2]);
}

describeWinograd('the input gradient by Winograd F(2x2, 3x3)', () => {
  test.each([
    ['512 tiles, 33 -> 34 channels (pairs not a multiple of 16)', [8, 33, 16, 16], 34, 1],
    ['padding 0 (the gradient conv pads by 2), 40 -> 32', [8, 40, 18, 18], 32, 0],
  ] as [string, [number, number, number, number], number, number][])(
    'transforms the flipped weight in place, %s: the same bits as the forward conv with a flipped copy',
    (_name, shape, out, padding) => {
      manualSeed(64);
      const { byAutograd, byForward, reference } = inputGradientTwoWays(shape, out, padding);
      expect(maxRelDiff(byAutograd, reference)).toBeLessThan(3e-6);
      expect(byAutograd).toEqual(byForward);
    },
  );

  test('48 output channels (whole rows of 16 kernels per step, input channel by input channel), 37 inputs: at 2 threads a range starts mid-row; the same bits at 1 and 2 threads', () => {
    const saved = getNumThreads();
    const grads: number[][] = [];
    try {
      for (const threads of [1, 2]) {
        setNumThreads(threads);
        manualSeed(65);
        const { byAutograd, byForward, reference } = inputGradientTwoWays([8, 37, 16, 16], 48, 1);
        expect(maxRelDiff(byAutograd, reference)).toBeLessThan(3e-6);
        expect(byAutograd).toEqual(byForward);
        grads.push(byAutograd);
      }
    } finally {
      setNumThreads(saved);
    }
    expect(grads[1]).toEqual(grads[0]);
  });
});

describeWinograd('the weight gradient by Winograd (dU = sum over tiles of Z V^T, dW = G^T dU G)', () => {
  // From 256 tiles per half of the batch (native/cpu/conv2d_winograd.cc).
  const cases: { name: string; input: [number, number, number, number]; out: number; padding: number }[] = [
    { name: 'two halves of 4 images, two chunks each', input: [8, 32, 24, 24], out: 40, padding: 1 },
    { name: 'odd batch (halves of 4 and 3 images), odd output 19x17', input: [7, 32, 19, 17], out: 40, padding: 1 },
    { name: 'padding 0', input: [7, 32, 21, 19], out: 32, padding: 0 },
    { name: 'padding 2, 33 input channels', input: [7, 33, 17, 15], out: 35, padding: 2 },
    { name: 'one image, its 529 tiles in halves of 264 and 265', input: [1, 32, 46, 46], out: 32, padding: 1 },
  ];
  for (const c of cases) {
    test(`${c.name}: equals the float64 weight gradient, and the direct path rounds differently`, () => {
      manualSeed(61);
      const x = Tensor.randn(c.input);
      const w = Tensor.randn([c.out, c.input[1], 3, 3], { std: 0.2 });
      const gy = gradOutFor(x, w, c.padding);
      const g = convGeom(x.shape, w.shape, [1, 1], [c.padding, c.padding], [1, 1], 1);
      const got = weightGrad(x, w, gy, c.padding);
      const expected = refConv2dGradWeight(g, gy.data, x.data);
      expect(maxRelDiff(got.data, expected)).toBeLessThan(3e-6);
      const active = isa().active;
      try {
        setIsa('avx2'); // no Winograd below AVX-512
        const direct = weightGrad(x, w, gy, c.padding);
        expect(maxRelDiff(direct.data, expected)).toBeLessThan(3e-6);
        expect(Array.from(direct.data)).not.toEqual(Array.from(got.data));
      } finally {
        setIsa(active);
      }
    });
  }

  test.each([
    ['halves of the batch', [6, 48, 24, 24]],
    ["halves of one image's tiles", [1, 48, 46, 46]],
  ] as [string, [number, number, number, number]][])(
    'gives the same bits at 1 and 2 threads (fixed %s, added in a fixed order)',
    (_, shape) => {
      manualSeed(62);
      const x = Tensor.randn(shape);
      const w = Tensor.randn([48, 48, 3, 3], { std: 0.2 });
      const gy = gradOutFor(x, w, 1);
      const saved = getNumThreads();
      try {
        setNumThreads(1);
        const one = weightGrad(x, w, gy, 1);
        setNumThreads(2);
        const two = weightGrad(x, w, gy, 1);
        expect(Array.from(two.data)).toEqual(Array.from(one.data));
      } finally {
        setNumThreads(saved);
      }
    },
  );

  test('NaN and inf in the input or the output gradient take the direct path (same non-finite entries)', () => {
    manualSeed(63);
    const x = Tensor.randn([8, 32, 24, 24]);
    const w = Tensor.randn([32, 32, 3, 3], { std: 0.2 });
    // NaN, +inf, -inf or finite: inf times output gradients of both signs sums to NaN.
    const kinds = (a: ArrayLike<number>) =>
      Array.from(a, (v) => (Number.isNaN(v) ? 'nan' : Number.isFinite(v) ? 'finite' : String(v)));
    for (const where of ['input', 'gradient'] as const) {
      const gy = gradOutFor(x, w, 1);
      const xs = x.clone();
      // On the maps' top row. An input value meets 6 of the 9 taps of its channel in the direct
      // sum, while the Winograd tile holding it feeds all 9; an output gradient value meets all 9
      // taps of its channel in the direct GEMM too (NaN times the padding's zeros).
      if (where === 'input') xs.data[(3 * 32 + 5) * 576 + 0 * 24 + 11] = Number.POSITIVE_INFINITY;
      else gy.data[(6 * 32 + 7) * 576 + 0 * 24 + 3] = Number.NaN;
      const got = weightGrad(xs, w, gy, 1);
      const active = isa().active;
      let direct: Tensor;
      try {
        setIsa('avx2'); // no Winograd below AVX-512
        direct = weightGrad(xs, w, gy, 1);
      } finally {
        setIsa(active);
      }
      expect(kinds(got.data)).toEqual(kinds(direct.data));
      expect(kinds(got.data).filter((k) => k !== 'finite').length).toBe(32 * (where === 'input' ? 6 : 9));
      const finite = (a: ArrayLike<number>) => Array.from(a).filter((v) => Number.isFinite(v));
      expect(maxRelDiff(finite(got.data), finite(direct.data))).toBeLessThan(3e-6);
    }
  });
});

/**
 * Dynamic convolution runs its per-sample stride-1 3x3 convs (forward, and the input gradient as
 * a conv with the flipped experts) by Winograd when a plain conv of the batch's shape would: the
 * experts are transformed once per call and mixed per sample in the transformed domain.
 */
describeWinograd('dynamicConv2d by Winograd (experts mixed after the transform)', () => {
  const threads = getNumThreads();
  afterEach(() => setNumThreads(threads));

  // 4 samples of 16x16 (64 tiles each, 256 in the batch), 32 -> 40 channels, 3 experts.
  const g: DynGeom = {
    B: 4,
    C: 32,
    H: 16,
    W: 16,
    K: 3,
    O: 40,
    kh: 3,
    kw: 3,
    stride: [1, 1],
    padding: [1, 1],
    dilation: [1, 1],
    groups: 1,
  };

  test('forward and every gradient equal the float64 per-sample definition, at 1 and 2 threads (same bits)', () => {
    manualSeed(41);
    const t = dynamicInputs(g);
    const gradOut = Tensor.randn([g.B, g.O, g.H, g.W]);
    const runs = dynamicRunsAgainstReference(g, t, gradOut, 3e-6, [1, 2]);
    expect(runs[1].values).toEqual(runs[0].values);
    // Above, each pair of samples ran point by point on one thread (WinogradImage). At 2 threads
    // a batch of 3 pairs (the 4 samples and the first two again) runs its pairs one after
    // another the other way (all 16 matrices mixed, then winograd_forward splitting each step
    // over the threads): the same arithmetic, so the same bits.
    setNumThreads(2);
    const six = (x: Tensor, per: number) => {
      const data = new Float32Array(6 * per);
      data.set(x.data.subarray(0, 4 * per));
      data.set(x.data.subarray(0, 2 * per), 4 * per);
      return Tensor.from(data, [6, ...x.shape.slice(1)]);
    };
    const input6 = six(t.input, g.C * g.H * g.W).requireGrad();
    const out6 = ops.dynamicConv2d(input6, t.experts.detach(), six(t.attention, g.K), {
      expertBias: t.expertBias.detach(),
      padding: 1,
    });
    out6.backward(six(gradOut, g.O * g.H * g.W));
    expect(Array.from(out6.data.subarray(0, runs[0].values[0].length))).toEqual(Array.from(runs[0].values[0]));
    expect(Array.from(input6.grad!.data.subarray(0, runs[0].values[1].length))).toEqual(Array.from(runs[0].values[1]));
    // Winograd ran (forward and input gradient): the direct path, under the AVX2 cap, rounds differently.
    const active = isa().active;
    try {
      setIsa('avx2');
      for (const p of Object.values(t)) p.grad = null;
      const direct = ops.dynamicConv2d(t.input, t.experts, t.attention, { expertBias: t.expertBias, padding: 1 });
      direct.backward(gradOut);
      expect(Array.from(direct.data)).not.toEqual(Array.from(runs[0].values[0]));
      expect(Array.from(t.input.grad!.data)).not.toEqual(Array.from(runs[0].values[1]));
    } finally {
      setIsa(active);
    }
  });

  // With finite attention the Winograd path runs and each sample whose image (or grad_out)
  // holds inf or NaN falls back to the direct convolution alone, its pair's other sample not;
  // a non-finite attention turns Winograd off for the call.
  test.each([
    ['finite attention', false],
    ['an infinite attention', true],
  ])('non-finite inputs and grad_out propagate as the direct definition does (%s)', (_name, infAttention) => {
    manualSeed(42);
    const t = dynamicInputs(g);
    t.input.data[(1 * g.C + 5) * 256 + 3 * 16 + 4] = Number.NaN; // sample 1
    t.input.data[(2 * g.C + 7) * 256 + 15] = Number.POSITIVE_INFINITY; // sample 2, a corner
    if (infAttention) t.attention.data[3 * g.K + 1] = Number.POSITIVE_INFINITY; // sample 3's whole kernel
    const gradOut = Tensor.randn([g.B, g.O, g.H, g.W]);
    gradOut.data[(0 * g.O + 2) * 256 + 7 * 16 + 9] = Number.NaN; // sample 0's input gradient
    const data = {
      input: t.input.data,
      experts: t.experts.data,
      attention: t.attention.data,
      expertBias: t.expertBias.data,
    };
    const out = ops.dynamicConv2d(t.input, t.experts, t.attention, { expertBias: t.expertBias, padding: 1 });
    out.backward(gradOut);
    const checks: [string, ArrayLike<number>, ArrayLike<number>][] = [
      ['out', out.data, dynamicConvForward(g, data)],
      ['grad input', t.input.grad!.data, dynamicConvBackward(g, data, gradOut.data).input],
    ];
    for (const [name, got, want] of checks) {
      let finite = 0;
      for (let i = 0; i < want.length; i++) {
        const kind = (v: number) => (Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? 'finite' : v > 0 ? '+inf' : '-inf');
        if (kind(got[i]) !== kind(want[i])) throw new Error(`${name}[${i}]: ${got[i]}, expected ${want[i]}`);
        if (Number.isFinite(want[i])) {
          finite++;
          expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-3 * (1 + Math.abs(want[i])));
        }
      }
      expect(finite).toBeGreaterThan(want.length / 4); // only the windows that hold them
    }
  });
});
