/**
 * Winograd F(4x4, 3x3), the path of 3x3 stride-1 convolutions from 512 tiles of 4x4 outputs per call
 * (native/cpu/conv2d_winograd.cc): training's forward and input gradient, and inference's with
 * packed weights (those hold F(2x2) matrices; such a call transforms the weights itself):
 * compared with PyTorch's output at those sizes (a committed golden fixture, sampled) and with
 * the naive float64 convolution on the geometries its tiling has to get right — one tile per
 * image (16 images per vector), rows wider than a vector of tiles, partial tiles at odd output
 * sizes, padding 0 and 2, chunks across images, bias, residual and ReLU — plus the same bits at
 * any thread count and PyTorch's NaN and inf propagation. Every case also shows that F(4x4) ran:
 * its rounding is neither the direct convolution's nor F(2x2)'s (the packed weights' path).
 * The weight gradient takes it where the forward does (dU = sum over tiles of Z V^T, 36 GEMMs,
 * dW = G^T dU G), in the same two fixed halves. dynamicConv2d takes it where the static conv of
 * its shape does (experts transformed to 36 matrices, mixed per sample): against the float64
 * per-sample definition.
 */
import * as ops from '../lib/ops';
import { manualSeed } from '../lib/random';
import { getNumThreads, setNumThreads } from '../lib/system';
import { Tensor } from '../lib/tensor';
import { maxRelDiff } from './helpers';
import { convGeom, refConv2dGradInput, refConv2dGradWeight } from './reference/conv';
import { DynGeom } from './reference/dynamic_conv';
import { expectMatchesFixture, FixtureTensor, loadFixtures } from './torch_fixtures';
import {
  describeWinograd,
  directConv,
  dynamicInputs,
  dynamicRunsAgainstReference,
  inputGradientTwoWays,
  reference,
  run,
  WinogradCase,
} from './winograd_helpers';

// F(4x4, 3x3)'s transforms divide by 6, 12 and 24, which rounds: its error is a few times
// F(2x2, 3x3)'s (bounded by 3e-6 in test/winograd.test.ts); 4e-6 to 6e-6 measured here.
const F4_TOLERANCE = 2e-5;

const CASES: WinogradCase[] = [
  { name: '512 tiles of 16x16 maps', input: [32, 32, 16, 16], out: 32, padding: 1, bias: true },
  {
    name: 'rows of 18 tiles (wider than a vector)',
    input: [2, 32, 70, 70],
    out: 32,
    padding: 1,
    residual: true,
    relu: true,
  },
  { name: '4x4 maps: one tile per image, 16 images per vector', input: [512, 32, 4, 4], out: 32, padding: 1 },
  {
    name: 'padding 2, output 23x20 (partial tiles), 35 outputs',
    input: [20, 33, 21, 18],
    out: 35,
    padding: 2,
    bias: true,
    relu: true,
  },
  { name: 'padding 0, output 29x25', input: [10, 32, 31, 27], out: 40, padding: 0, residual: true },
  { name: '64 channels, chunks across images', input: [8, 64, 32, 32], out: 64, padding: 1, bias: true },
];

/** generate_torch_fixtures.py's formula(): ((i * mul) % mod) / mod * 2 - 1, times scale, as float32. */
function formula(shape: readonly number[], [mul, mod, scale]: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = ((((i * mul) % mod) / mod) * 2 - 1) * scale;
  return Tensor.from(data, [...shape]);
}

/** Every `stride`-th value of t, as the fixture keeps them. */
function sampled(t: Tensor, stride: number): Tensor {
  const values: number[] = [];
  for (let i = 0; i < t.numel; i += stride) values.push(t.data[i]);
  return Tensor.from(values, [values.length]);
}

describeWinograd('test/winograd4.test.ts')('Winograd F(4x4, 3x3) for convolutions of 512 tiles per call', () => {
  const threads = getNumThreads();
  afterEach(() => setNumThreads(threads));

  test.each(loadFixtures('conv2d_winograd4').map((c) => [c.name, c] as const))(
    'equals PyTorch at the sizes that take it (golden fixture %s, every 97th value; gradients too)',
    (name, c) => {
      const { N, C, O, H, W, padding, sampleStride, formulas } = c.args;
      const x = formula([N, C, H, W], formulas.input).requireGrad();
      const w = formula([O, C, 3, 3], formulas.weight).requireGrad();
      const b = formula([O], formulas.bias).requireGrad();
      const y = ops.conv2d(x, w, { bias: b, padding });
      y.backward(formula(y.shape, formulas.grad_out));
      const t = c.tensors as Record<string, FixtureTensor>;
      expectMatchesFixture(sampled(y, sampleStride), t.out_sampled, `${name} out`);
      expectMatchesFixture(sampled(x.grad!, sampleStride), t.grad_input_sampled, `${name} grad_input`);
      expectMatchesFixture(w.grad!, t.grad_weight, `${name} grad_weight`);
      expectMatchesFixture(b.grad!, t.grad_bias, `${name} grad_bias`);
    },
  );

  test.each(CASES.map((c) => [c.name, c] as const))(
    '%s: equals the float64 convolution, the same bits at 1, 2 and 3 threads',
    (_name, c) => {
      manualSeed(61);
      const [N, C, H, W] = c.input;
      const x = Tensor.randn([...c.input]);
      const w = Tensor.randn([c.out, C, 3, 3], { std: 0.2 });
      const bias = c.bias ? Tensor.randn([c.out]) : null;
      const outH = H + 2 * c.padding - 2,
        outW = W + 2 * c.padding - 2;
      const residual = c.residual ? Tensor.randn([N, c.out, outH, outW]) : null;
      const o = { bias, padding: c.padding, residual, relu: c.relu ?? false };
      const expected = reference(x, w, bias, c.padding, residual, o.relu);
      setNumThreads(1);
      const one = run(x, w, null, o);
      expect(one.shape).toEqual([N, c.out, outH, outW]);
      expect(maxRelDiff(one.data, expected)).toBeLessThan(F4_TOLERANCE);
      for (const t of [2, 3]) {
        setNumThreads(t);
        expect(Array.from(run(x, w, null, o).data)).toEqual(Array.from(one.data));
      }
      // Packed weights hold F(2x2) matrices; a call with this many tiles transforms the weights
      // by F(4x4) itself: the same bits. Half the batch (below the 512 tiles) takes the packed
      // F(2x2) matrices, which round differently, as does the direct convolution: F(4x4) ran.
      const packed = ops.packConv2dWeight(w);
      expect(packed.winograd).toBe(true);
      expect(Array.from(run(x, w, packed, o).data)).toEqual(Array.from(one.data));
      const firstHalf = (t: Tensor) =>
        Tensor.from(t.data.subarray(0, (t.numel / N) * (N / 2)), [N / 2, ...t.shape.slice(1)]);
      const half = run(firstHalf(x), w, packed, { ...o, residual: residual && firstHalf(residual) });
      expect(Array.from(half.data)).not.toEqual(Array.from(one.data.subarray(0, half.numel)));
      expect(Array.from(directConv(() => run(x, w, null, o)).data)).not.toEqual(Array.from(one.data));
    },
  );

  test('the input gradient (a stride-1 conv of the output gradient, as many tiles) runs by it too', () => {
    manualSeed(62);
    const x = Tensor.randn([32, 48, 16, 16]).requireGrad();
    const w = Tensor.randn([40, 48, 3, 3], { std: 0.2 }).requireGrad();
    const y = ops.conv2d(x, w, { padding: 1 });
    const gy = Tensor.randn(y.shape);
    y.backward(gy);
    const g = convGeom(x.shape, w.shape, [1, 1], [1, 1], [1, 1], 1);
    expect(maxRelDiff(x.grad!.data, refConv2dGradInput(g, gy.data, w.data))).toBeLessThan(F4_TOLERANCE);
    const xd = x.detach().requireGrad();
    directConv(() => {
      ops.conv2d(xd, w.detach(), { padding: 1 }).backward(gy);
      return xd;
    });
    expect(Array.from(xd.grad!.data)).not.toEqual(Array.from(x.grad!.data));
  });

  test('the input gradient transforms the flipped weight in place: the same bits as the forward conv with a flipped copy (35 -> 37 channels, pairs not a multiple of 16)', () => {
    manualSeed(63);
    const { byAutograd, byForward, reference } = inputGradientTwoWays([32, 35, 16, 16], 37, 1);
    expect(maxRelDiff(byAutograd, reference)).toBeLessThan(F4_TOLERANCE);
    expect(byAutograd).toEqual(byForward);
  });

  test.each([
    ['512 tiles of 16x16 maps, 32 -> 40', [32, 32, 16, 16], 40, 1],
    ['rows of 18 tiles', [2, 32, 70, 70], 32, 1],
    ['one tile per image (halves of 256 images)', [512, 32, 4, 4], 32, 1],
    ['padding 2, partial tiles, 33 -> 35', [20, 33, 21, 18], 35, 2],
    ['a batch of one (halves of its 529 tiles)', [1, 32, 90, 90], 32, 1],
  ] as const)(
    'the weight gradient, %s: equals the float64 one, the same bits at 1, 2, 3 and 5 threads',
    (_name, shape, out, padding) => {
      manualSeed(65);
      const x = Tensor.randn([...shape]);
      const w = Tensor.randn([out, shape[1], 3, 3], { std: 0.2 });
      const g = convGeom(x.shape, w.shape, [1, 1], [padding, padding], [1, 1], 1);
      const gy = Tensor.randn([shape[0], out, g.OH, g.OW]);
      const gradient = (threads: number): number[] => {
        setNumThreads(threads);
        const wi = w.detach().requireGrad();
        ops.conv2d(x, wi, { padding }).backward(gy);
        return Array.from(wi.grad!.data);
      };
      const one = gradient(1);
      expect(maxRelDiff(one, refConv2dGradWeight(g, gy.data, x.data))).toBeLessThan(F4_TOLERANCE);
      for (const threads of [2, 3, 5]) expect(gradient(threads)).toEqual(one);
      // By Winograd: the direct weight gradient (under the AVX2 cap) rounds differently.
      const wd = w.detach().requireGrad();
      directConv(() => {
        ops.conv2d(x, wd, { padding }).backward(gy);
        return wd;
      });
      expect(Array.from(wd.grad!.data)).not.toEqual(one);
    },
  );

  test('dynamicConv2d of 512 tiles (8 samples of 32x32, 64 tiles each, point by point): forward and every gradient equal the float64 definition, the same bits at 1 and 2 threads', () => {
    manualSeed(64);
    const g: DynGeom = {
      B: 8,
      C: 32,
      H: 32,
      W: 32,
      K: 3,
      O: 32,
      kh: 3,
      kw: 3,
      stride: [1, 1],
      padding: [1, 1],
      dilation: [1, 1],
      groups: 1,
    };
    const t = dynamicInputs(g);
    const runs = dynamicRunsAgainstReference(g, t, Tensor.randn([g.B, g.O, g.H, g.W]), F4_TOLERANCE, [1, 2]);
    expect(runs[1].values).toEqual(runs[0].values);
  });

  test('NaN and inf inputs and weights propagate as in PyTorch (the direct path takes over)', () => {
    manualSeed(63);
    const x = Tensor.randn([32, 32, 16, 16]);
    const w = Tensor.randn([32, 32, 3, 3], { std: 0.2 });
    // A 6x6 patch reaches outputs whose 3x3 window misses the value (0 * inf = NaN).
    const xs = x.clone();
    xs.data[(3 * 32 + 5) * 256 + 7 * 16 + 9] = Number.NaN;
    xs.data[(20 * 32 + 1) * 256 + 0 * 16 + 15] = Number.POSITIVE_INFINITY;
    const ws = w.clone();
    ws.data[(7 * 32 + 3) * 9 + 4] = Number.NEGATIVE_INFINITY;
    for (const [input, weight] of [
      [xs, w],
      [x, ws],
    ]) {
      const got = run(input, weight, null, { padding: 1 });
      const expected = reference(input, weight, null, 1, null, false);
      let nonFinite = 0;
      for (let i = 0; i < expected.length; i++) {
        if (Number.isFinite(expected[i])) continue;
        nonFinite++;
        expect([i, got.data[i]]).toEqual([i, expected[i]]);
      }
      expect(nonFinite).toBeGreaterThan(0);
      const finite = Array.from(expected).filter((v) => Number.isFinite(v)).length;
      expect(finite).toBeGreaterThan(expected.length / 2); // not everything turned NaN
      expect(
        maxRelDiff(
          Array.from(got.data).map((v, i) => (Number.isFinite(expected[i]) ? v : 0)),
          Array.from(expected).map((v) => (Number.isFinite(v) ? v : 0)),
        ),
      ).toBeLessThan(3e-6);
    }
  });
});
