import { ops, Tensor, manualSeed, noGrad, setNumThreads, getNumThreads, ShapeError, ArgumentError } from '../lib';
import { expectCudaMatchesCpu } from './device_compare';
import { OnnxGraphBuilder } from '../lib/onnx/builder';
import { runOnnx } from '../lib/onnx/ort';
import { expectClose, describeCuda, forEachIsa } from './helpers';
import { numericGrad } from './reference/numeric_grad';
import { gradcheck } from './gradcheck';
import {
  PoolParams,
  referenceAdaptiveAvgPool,
  referenceAvgPool,
  referenceMaxPool,
  referenceMaxPoolBackward,
} from './reference/pooling';

interface Case extends PoolParams {
  shape: number[];
}

const cases: Case[] = [
  { shape: [2, 3, 7, 9], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false },
  { shape: [1, 2, 7, 9], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true },
  { shape: [1, 1, 6, 6], kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceilMode: false },
  { shape: [2, 2, 5, 8], kernel: [3, 2], stride: [2, 3], padding: [1, 0], ceilMode: true },
  { shape: [1, 3, 11, 10], kernel: [3, 3], stride: [1, 1], padding: [1, 1], ceilMode: false, dilation: [2, 1] },
  { shape: [1, 2, 8, 7], kernel: [4, 3], stride: [3, 2], padding: [2, 1], ceilMode: true, dilation: [1, 2] },
  { shape: [3, 1, 1, 5], kernel: [1, 3], stride: [1, 1], padding: [0, 1], ceilMode: false },
  // Wider planes: the unrolled interior paths (3x3 s1, 3x3 s2 de-interleaved, 2x2 s2) and their edges.
  { shape: [1, 2, 9, 21], kernel: [3, 3], stride: [1, 1], padding: [1, 1], ceilMode: false },
  { shape: [2, 1, 12, 23], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true },
  { shape: [1, 2, 10, 19], kernel: [3, 3], stride: [2, 2], padding: [0, 0], ceilMode: false },
  { shape: [1, 1, 9, 17], kernel: [2, 2], stride: [2, 2], padding: [1, 1], ceilMode: true },
  // Plain 2x2 / stride 2 (a dedicated average-pool backward): odd sizes leave a last row and column unread,
  // and with ceilMode the last windows are partial (the general path).
  { shape: [2, 2, 7, 5], kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceilMode: false },
  { shape: [1, 2, 5, 7], kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceilMode: true },
];

const maxOptions = (c: Case) => ({
  kernelSize: c.kernel,
  stride: c.stride,
  padding: c.padding,
  dilation: c.dilation ?? [1, 1],
  ceilMode: c.ceilMode,
});
const avgOptions = (c: Case, countIncludePad: boolean) => ({
  kernelSize: c.kernel,
  stride: c.stride,
  padding: c.padding,
  ceilMode: c.ceilMode,
  countIncludePad,
});

async function ortPool(op: string, x: Tensor, c: Case, extra: Record<string, number>): Promise<Tensor> {
  const bytes = new OnnxGraphBuilder({ opset: 19 })
    .input('x', x.shape)
    .node(op, ['x'], ['y'], {
      kernel_shape: c.kernel,
      strides: c.stride,
      pads: [c.padding[0], c.padding[1], c.padding[0], c.padding[1]],
      ceil_mode: c.ceilMode ? 1 : 0,
      ...extra,
    })
    .output('y')
    .toBytes();
  return (await runOnnx(bytes, { x }, { threads: 1 })).y;
}

function noGradMax(x: Tensor, k: number, s: number): number[] {
  return ops.maxPool2d(x, { kernelSize: k, stride: s, padding: 1 }).toArray();
}

// Rows of up to 16 columns: the AVX-512 paths that keep a row in one register
// (native/cpu/pooling_planes_isa.cc: reduce_rows_in_registers, and max_rows_in_registers with
// indices); then rows of 17-32 columns with up to 16 outputs, which both keep in two.
const NARROW: Case[] = [
  { shape: [2, 2, 16, 16], kernel: [3, 3], stride: [1, 1], padding: [1, 1], ceilMode: false },
  { shape: [1, 2, 13, 16], kernel: [5, 5], stride: [2, 2], padding: [2, 2], ceilMode: true, dilation: [1, 2] },
  { shape: [1, 1, 6, 15], kernel: [2, 4], stride: [3, 3], padding: [1, 2], ceilMode: true },
  { shape: [1, 3, 5, 16], kernel: [3, 3], stride: [1, 2], padding: [1, 1], ceilMode: false },
  // Rows of 17-32 columns with at most 16 outputs (two vectors: taps are permutes across both).
  { shape: [2, 2, 11, 32], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false },
  { shape: [1, 1, 9, 17], kernel: [2, 2], stride: [1, 1], padding: [0, 0], ceilMode: false },
  { shape: [2, 1, 7, 31], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true },
  { shape: [1, 1, 5, 24], kernel: [2, 5], stride: [1, 2], padding: [0, 2], ceilMode: false, dilation: [1, 2] },
  { shape: [1, 2, 6, 20], kernel: [3, 3], stride: [3, 3], padding: [1, 1], ceilMode: true },
];

describe('maxPool2d', () => {
  beforeEach(() => manualSeed(21));

  test('forward matches the reference and ONNX Runtime MaxPool (ceilMode, dilation, odd sizes, batch 1)', async () => {
    for (const c of cases) {
      const x = Tensor.randn(c.shape);
      const y = ops.maxPool2d(x, maxOptions(c));
      const want = referenceMaxPool(x.data, c.shape, c);
      expect(y.shape).toEqual(want.shape);
      expect(Array.from(y.data)).toEqual(Array.from(want.y, Math.fround));
      const ort = await ortPool('MaxPool', x, c, { dilations: c.dilation ?? [1, 1] } as never);
      expect(ort.shape).toEqual(want.shape);
      expect(Array.from(y.data)).toEqual(Array.from(ort.data));
    }
  });

  test('stride defaults to kernelSize; NaN propagates', () => {
    const x = Tensor.from([1, 2, 3, 4, NaN, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [1, 1, 4, 4]);
    expect(ops.maxPool2d(x, { kernelSize: 2 }).toArray()).toEqual([NaN, 8, 14, 16]);
    for (const [k, s] of [
      [3, 2],
      [3, 1],
      [2, 2],
    ]) {
      const big = Tensor.randn([1, 1, 11, 20]);
      big.data[5 * 20 + 9] = NaN;
      const want = referenceMaxPool(big.data, big.shape, {
        kernel: [k, k],
        stride: [s, s],
        padding: [1, 1],
        ceilMode: false,
      });
      expect(noGradMax(big, k, s)).toEqual(Array.from(want.y, Math.fround));
      const withGrad = big.clone().requireGrad();
      expect(ops.maxPool2d(withGrad, { kernelSize: k, stride: s, padding: 1 }).toArray()).toEqual(
        Array.from(want.y, Math.fround),
      );
    }
  });

  test('without gradients (the vector path) wide rows, row tails, many row bands, -inf and tall windows match the reference', () => {
    const wide: Case[] = [
      { shape: [1, 2, 9, 37], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true },
      { shape: [1, 1, 6, 70], kernel: [5, 5], stride: [1, 3], padding: [2, 2], ceilMode: false, dilation: [1, 2] },
      { shape: [2, 1, 13, 33], kernel: [7, 2], stride: [3, 1], padding: [3, 1], ceilMode: true },
      { shape: [1, 1, 4, 90], kernel: [2, 19], stride: [1, 19], padding: [0, 9], ceilMode: true },
      { shape: [1, 1, 80, 5], kernel: [70, 3], stride: [5, 1], padding: [0, 1], ceilMode: false },
      // 41 output rows: bands of 16, 16 and 9.
      { shape: [1, 2, 41, 23], kernel: [3, 3], stride: [1, 1], padding: [1, 1], ceilMode: false },
    ];
    for (const c of wide) {
      const x = Tensor.randn(c.shape);
      for (let i = 0; i < x.numel; i += 7) x.data[i] = -Infinity;
      x.data[3] = NaN;
      const want = Array.from(referenceMaxPool(x.data, c.shape, c).y, Math.fround);
      expect(ops.maxPool2d(x, maxOptions(c)).toArray()).toEqual(want);
      expect(ops.maxPool2d(x.clone().requireGrad(), maxOptions(c)).toArray()).toEqual(want);
    }
  });

  test('without gradients, rows of up to 32 columns with up to 16 outputs (the window taps are lane permutes) match the reference', () => {
    for (const c of NARROW) {
      const x = Tensor.randn(c.shape);
      for (let i = 0; i < x.numel; i += 5) x.data[i] = -Infinity;
      x.data[2] = NaN;
      const want = Array.from(referenceMaxPool(x.data, c.shape, c).y, Math.fround);
      expect(noGrad(() => ops.maxPool2d(x, maxOptions(c))).toArray()).toEqual(want);
    }
  });

  test('with gradients (argmax by lane permutes of the row for rows of up to 32 columns with up to 16 outputs, of padded row copies 16 outputs at a time for wider ones at width strides 1 and 2, the padded-plane path otherwise; AVX-512): the same values and routing as every other instruction set, ties, -inf and NaN included', () => {
    const narrow: Case[] = [
      ...NARROW,
      { shape: [2, 3, 16, 16], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false },
      // Wider rows: padded row copies, 16 outputs at a time (row tails), 3 taps along the row
      // at width stride 2 (ResNet's stem pool; 112 columns: several chunks), any other count,
      // width stride 1 (also on rows narrower than the 32 floats a tap loads), and the
      // padded-plane path for width strides above 2.
      { shape: [1, 2, 9, 56], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false },
      { shape: [1, 1, 11, 112], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true },
      { shape: [1, 1, 7, 75], kernel: [3, 2], stride: [2, 1], padding: [1, 1], ceilMode: true },
      { shape: [2, 1, 6, 41], kernel: [5, 3], stride: [1, 2], padding: [2, 1], ceilMode: false, dilation: [1, 2] },
      { shape: [1, 2, 8, 70], kernel: [2, 4], stride: [1, 2], padding: [1, 2], ceilMode: true },
      { shape: [1, 1, 5, 20], kernel: [3, 3], stride: [1, 1], padding: [1, 1], ceilMode: false },
      { shape: [1, 1, 6, 50], kernel: [3, 3], stride: [2, 3], padding: [1, 1], ceilMode: true },
    ];
    for (const c of narrow) {
      // Values from a few levels, so that most windows hold ties; -inf runs and two NaNs.
      const x = Tensor.randn(c.shape);
      for (let i = 0; i < x.numel; i++) x.data[i] = Math.round(x.data[i] * 2) / 2;
      for (let i = 0; i < x.numel; i += 9) x.data[i] = -Infinity;
      x.data[5] = NaN;
      x.data[6] = NaN;
      // A corner block of -inf: windows whose every in-image value is -inf (PyTorch routes
      // their gradient to the window's first in-image element).
      const [, , H, W] = c.shape;
      const last = x.numel - H * W; // the last plane
      for (let r = 0; r < 4; r++) for (let q = 0; q < 5; q++) x.data[last + r * W + q] = -Infinity;
      const tiesOnly = Tensor.from(
        Array.from(x.data, (v) => (Number.isFinite(v) ? v : 0)),
        c.shape,
      );
      const g = Tensor.randn(ops.maxPool2d(x, maxOptions(c)).shape);
      const results: { isa: string; y: number[]; grad: number[]; tieGrad: number[] }[] = [];
      forEachIsa((isa) => {
        const xs = x.clone().requireGrad();
        const y = ops.maxPool2d(xs, maxOptions(c));
        y.backward(g);
        const ts = tiesOnly.clone().requireGrad();
        ops.maxPool2d(ts, maxOptions(c)).backward(g);
        results.push({
          isa,
          y: y.toArray() as number[],
          grad: (xs.grad as Tensor).toArray() as number[],
          tieGrad: (ts.grad as Tensor).toArray() as number[],
        });
      });
      expectClose(results[0].tieGrad, referenceMaxPoolBackward(tiesOnly.data, c.shape, c, g.data), 1e-5, 1e-6);
      for (const r of results.slice(1)) {
        expect({ isa: r.isa, y: r.y, grad: r.grad, tieGrad: r.tieGrad }).toEqual({ ...results[0], isa: r.isa });
      }
    }
  });

  test('backward routes each gradient to its argmax (reference scatter; finite differences on the small cases)', () => {
    for (const c of cases) {
      const x = Tensor.randn(c.shape, { requiresGrad: true });
      const y = ops.maxPool2d(x, maxOptions(c));
      const g = Tensor.randn(y.shape);
      y.backward(g);
      expectClose((x.grad as Tensor).data, referenceMaxPoolBackward(x.data, c.shape, c, g.data), 1e-6, 1e-6);
      if (x.numel > 200) continue;
      const f = ([xx]: Float64Array[]): Float64Array => referenceMaxPool(xx, c.shape, c).y;
      expectClose((x.grad as Tensor).data, numericGrad(f, [x.data], g.data, 0, 1e-4), 1e-4, 1e-4);
    }
  });

  test('ties go to the first maximum (in window order), as PyTorch', () => {
    const x = Tensor.ones([1, 1, 3, 3], { requiresGrad: true });
    const y = ops.maxPool2d(x, { kernelSize: 2, stride: 1 });
    y.backward(Tensor.ones(y.shape));
    expect((x.grad as Tensor).toArray()).toEqual([1, 1, 0, 1, 1, 0, 0, 0, 0]);
    // The unrolled 3x3 paths: every output's gradient goes to the first in-image tap of its window.
    for (const s of [1, 2]) {
      const [H, W] = [6, 13];
      const ones = Tensor.ones([1, 1, H, W], { requiresGrad: true });
      const out = ops.maxPool2d(ones, { kernelSize: 3, stride: s, padding: 1 });
      out.backward(Tensor.ones(out.shape));
      const want = new Array(H * W).fill(0);
      for (let oh = 0; oh < out.shape[2]; oh++)
        for (let ow = 0; ow < out.shape[3]; ow++) want[Math.max(oh * s - 1, 0) * W + Math.max(ow * s - 1, 0)] += 1;
      expect((ones.grad as Tensor).toArray()).toEqual(want);
    }
  });
});

/** avgPool2d of random inputs of each case equals the float64 reference, with padding counted and not. */
function expectAveragesMatchReference(list: Case[]): void {
  for (const c of list) {
    for (const include of [true, false]) {
      const x = Tensor.randn(c.shape);
      expectClose(
        ops.avgPool2d(x, avgOptions(c, include)).data,
        referenceAvgPool(x.data, c.shape, c, include).y,
        1e-6,
        1e-5,
      );
    }
  }
}

describe('avgPool2d', () => {
  beforeEach(() => manualSeed(22));

  test('wide rows, row tails, strides above the vector width and windows taller than 64 rows match the reference', () => {
    const wide: Case[] = [
      { shape: [1, 2, 9, 37], kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: true },
      { shape: [1, 1, 6, 70], kernel: [5, 5], stride: [1, 3], padding: [2, 2], ceilMode: false },
      { shape: [1, 1, 4, 90], kernel: [2, 19], stride: [1, 19], padding: [0, 9], ceilMode: true },
      { shape: [1, 1, 80, 5], kernel: [70, 3], stride: [5, 1], padding: [0, 1], ceilMode: false },
      // 41 output rows: bands of 16, 16 and 9.
      { shape: [1, 2, 41, 23], kernel: [3, 3], stride: [1, 1], padding: [1, 1], ceilMode: false },
    ];
    expectAveragesMatchReference(wide);
  });

  test('rows of up to 32 columns with up to 16 outputs (the window taps are lane permutes) match the reference', () => {
    expectAveragesMatchReference(NARROW.filter((k) => !k.dilation));
  });

  test('forward matches the reference (countIncludePad both ways) and ONNX Runtime AveragePool', async () => {
    for (const c of cases.filter((k) => !k.dilation)) {
      for (const include of [true, false]) {
        const x = Tensor.randn(c.shape);
        const y = ops.avgPool2d(x, avgOptions(c, include));
        const want = referenceAvgPool(x.data, c.shape, c, include);
        expect(y.shape).toEqual(want.shape);
        expectClose(y.data, want.y, 1e-6, 1e-5);
        const ort = await ortPool('AveragePool', x, c, { count_include_pad: include ? 1 : 0 });
        expectClose(y.data, ort.data, 1e-6, 1e-5);
      }
    }
  });

  test('backward against finite differences of the reference', () => {
    for (const c of cases.filter((k) => !k.dilation && k.shape.reduce((a, b) => a * b) <= 200)) {
      for (const include of [true, false]) {
        const x = Tensor.randn(c.shape, { requiresGrad: true });
        const y = ops.avgPool2d(x, avgOptions(c, include));
        const g = Tensor.randn(y.shape);
        y.backward(g);
        const f = ([xx]: Float64Array[]): Float64Array => referenceAvgPool(xx, c.shape, c, include).y;
        expectClose((x.grad as Tensor).data, numericGrad(f, [x.data], g.data, 0), 1e-5, 1e-4);
      }
    }
  });
});

describe('adaptiveAvgPool2d', () => {
  beforeEach(() => manualSeed(23));
  const adaptive: [number[], [number, number]][] = [
    [
      [2, 3, 7, 9],
      [3, 4],
    ],
    [
      [1, 2, 5, 5],
      [5, 5],
    ],
    [
      [1, 1, 4, 6],
      [7, 3],
    ],
    [
      [2, 3, 6, 5],
      [1, 1],
    ],
    [
      [1, 2, 10, 3],
      [4, 1],
    ],
  ];

  test('forward matches PyTorch start/end windows; 1x1 matches ONNX Runtime GlobalAveragePool', async () => {
    for (const [shape, [oh, ow]] of adaptive) {
      const x = Tensor.randn(shape);
      const y = ops.adaptiveAvgPool2d(x, [oh, ow]);
      expect(y.shape).toEqual([shape[0], shape[1], oh, ow]);
      expectClose(y.data, referenceAdaptiveAvgPool(x.data, shape, oh, ow), 1e-6, 1e-5);
      if (oh === 1 && ow === 1) {
        const bytes = new OnnxGraphBuilder({ opset: 19 })
          .input('x', shape)
          .node('GlobalAveragePool', ['x'], ['y'])
          .output('y')
          .toBytes();
        expectClose(y.data, (await runOnnx(bytes, { x })).y.data, 1e-6, 1e-5);
        // globalAvgPool2d against per-plane float64 means.
        const plane = shape[2] * shape[3];
        const means = Array.from(
          { length: shape[0] * shape[1] },
          (_, p) => x.data.subarray(p * plane, (p + 1) * plane).reduce((a, v) => a + v, 0) / plane,
        );
        expectClose(ops.globalAvgPool2d(x).data, means, 1e-6, 1e-5);
      }
    }
    const x = Tensor.randn([1, 2, 6, 5]);
    expect(ops.adaptiveAvgPool2d(x, [null, 2]).shape).toEqual([1, 2, 6, 2]);
    expect(ops.adaptiveAvgPool2d(x, 3).shape).toEqual([1, 2, 3, 3]);
  });

  test('backward against finite differences of the reference', () => {
    for (const [shape, [oh, ow]] of adaptive) {
      const x = Tensor.randn(shape, { requiresGrad: true });
      const y = ops.adaptiveAvgPool2d(x, [oh, ow]);
      const g = Tensor.randn(y.shape);
      y.backward(g);
      const f = ([xx]: Float64Array[]): Float64Array => referenceAdaptiveAvgPool(xx, shape, oh, ow);
      expectClose((x.grad as Tensor).data, numericGrad(f, [x.data], g.data, 0), 1e-5, 1e-4);
    }
  });
});

test('unbatched [C, H, W] input pools like a batch of one, gradients included', () => {
  manualSeed(27);
  const x3 = Tensor.randn([3, 7, 8], { requiresGrad: true });
  const x4 = x3.detach().view([1, 3, 7, 8]).clone().requireGrad();
  for (const op of [
    (v: Tensor) => ops.maxPool2d(v, { kernelSize: 3, stride: 2, padding: 1 }),
    (v: Tensor) => ops.avgPool2d(v, { kernelSize: 2, ceilMode: true }),
    (v: Tensor) => ops.adaptiveAvgPool2d(v, [2, 3]),
  ]) {
    x3.grad = null;
    x4.grad = null;
    const y3 = op(x3),
      y4 = op(x4);
    expect(y3.shape).toEqual(y4.shape.slice(1));
    expect(y3.toArray()).toEqual(y4.toArray());
    const g = Tensor.randn(y3.shape);
    y3.backward(g);
    y4.backward(g.view(y4.shape));
    expect((x3.grad as unknown as Tensor).shape).toEqual([3, 7, 8]);
    expect((x3.grad as unknown as Tensor).toArray()).toEqual((x4.grad as unknown as Tensor).toArray());
  }
});

test('pooling is bit-identical at 1 and 2 threads', () => {
  const threads = getNumThreads();
  try {
    manualSeed(24);
    const x = Tensor.randn([3, 5, 13, 12]);
    const run = (t: number): number[][] => {
      setNumThreads(t);
      const out: number[][] = [];
      for (const op of [
        (v: Tensor) => ops.maxPool2d(v, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }),
        (v: Tensor) => ops.avgPool2d(v, { kernelSize: 3, stride: 2, padding: 1 }),
        (v: Tensor) => ops.adaptiveAvgPool2d(v, [5, 3]),
      ]) {
        const xi = x.clone().requireGrad();
        const y = op(xi);
        y.backward(Tensor.ones(y.shape));
        out.push(y.toArray(), (xi.grad as Tensor).toArray());
      }
      return out;
    };
    expect(run(2)).toEqual(run(1));
  } finally {
    setNumThreads(threads);
  }
});

describe('pooling errors', () => {
  const x = Tensor.zeros([1, 2, 5, 5]);
  test('wrong ndim', () => {
    expect(() => ops.maxPool2d(Tensor.zeros([5, 5]), { kernelSize: 2 })).toThrow(ShapeError);
    expect(() => ops.avgPool2d(Tensor.zeros([1, 2, 5, 5, 1]), { kernelSize: 2 })).toThrow(
      /4 dimensions.*\[1, 2, 5, 5, 1\]/,
    );
    expect(() => ops.adaptiveAvgPool2d(Tensor.zeros([5, 5]), 1)).toThrow(ShapeError);
  });
  test('kernel larger than the padded input', () => {
    expect(() => ops.maxPool2d(x, { kernelSize: 6 })).toThrow(/fit the padded input/);
    expect(() => ops.avgPool2d(x, { kernelSize: [2, 9], padding: [0, 1] })).toThrow(ShapeError);
    expect(() => ops.maxPool2d(x, { kernelSize: 3, dilation: 3 })).toThrow(ShapeError);
  });
  test('padding greater than half the kernel', () => {
    expect(() => ops.maxPool2d(x, { kernelSize: 3, padding: 2 })).toThrow(/padding to be at most half of kernelSize/);
    expect(() => ops.avgPool2d(x, { kernelSize: 2, padding: 2 })).toThrow(ArgumentError);
  });
  test('non-integer or non-positive sizes', () => {
    expect(() => ops.maxPool2d(x, { kernelSize: 1.5 })).toThrow(/kernelSize.*1.5 of type number/);
    expect(() => ops.maxPool2d(x, { kernelSize: 2, stride: 0 })).toThrow(/stride/);
    expect(() => ops.adaptiveAvgPool2d(x, [0, 2])).toThrow(/outputSize/);
    expect(() => ops.avgPool2d(x, { kernelSize: 2, countIncludePad: 'yes' as never })).toThrow(/countIncludePad/);
  });
});

const gpu = describeCuda('pooling.test');
gpu('pooling on CUDA', () => {
  test('max, average and adaptive pooling forward and backward match the CPU', () => {
    manualSeed(25);
    for (const c of cases) {
      const x = Tensor.randn(c.shape);
      expectCudaMatchesCpu((v) => ops.maxPool2d(v, maxOptions(c)), [x], [true]);
      if (!c.dilation) {
        for (const include of [true, false])
          expectCudaMatchesCpu((v) => ops.avgPool2d(v, avgOptions(c, include)), [x], [true]);
      }
    }
    for (const [oh, ow] of [
      [1, 1],
      [3, 4],
      [9, 11],
    ]) {
      expectCudaMatchesCpu((v) => ops.adaptiveAvgPool2d(v, [oh, ow]), [Tensor.randn([2, 3, 7, 9])], [true]);
    }
  });
});

test('avgPool2d and adaptiveAvgPool2d pass gradcheck on the float32 op itself', () => {
  manualSeed(26);
  gradcheck(
    (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
    [Tensor.randn([1, 2, 6, 7], { requiresGrad: true })],
  );
  gradcheck((x) => ops.adaptiveAvgPool2d(x, [4, 3]), [Tensor.randn([2, 1, 7, 5], { requiresGrad: true })]);
});
