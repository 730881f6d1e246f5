/**
 * The direct path for thin stride-1 convolutions (native/cpu/conv2d_direct.h: at most 16 inputs
 * and 2-32 outputs, or 64 inputs and 2-31 outputs; output rows of 16 or more pixels): forward
 * with bias, residual and ReLU, the input gradient (a conv of the same kind when the output side
 * is thin too) and the 3x3 weight gradient, against the naive float64 convolution on every
 * instruction set, on the shapes its blocking has to get right: row tails shorter than a vector,
 * output-channel blocks cut short (27 = 8 + 8 + 8 + 3), rows not a multiple of the rows per call,
 * batches not a multiple of the weight gradient's groups of four images, 5x5, 1x3 and dilated
 * kernels, a batch of one split into rows across threads. Plus the same bits at 1 and 2 threads,
 * and PyTorch's propagation of inf and NaN (only into what their windows touch: lanes past a
 * row's end read the next row). Then the depthwise kernels, built the same way, on strides 1-3,
 * dilation, a channel multiplier, 5x5 and 1x7 kernels and a batch of one, and the small maps whose
 * rows fit one vector (run from registers, without the bordered copy).
 */
import * as ops from '../lib/ops';
import { manualSeed } from '../lib/random';
import { availableIsas, getNumThreads, isa, setIsa, setNumThreads } from '../lib/system';
import { Tensor } from '../lib/tensor';
import { noGrad } from '../lib/autograd';
import { expectClose } from './helpers';
import {
  ConvGeom,
  convGeom,
  refChannelSums,
  refConv2d,
  refConv2dGradInput,
  refConv2dGradWeight,
} from './reference/conv';

interface DirectCase {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  padding: [number, number];
  dilation?: [number, number];
  stride?: [number, number];
  groups?: number;
  bias?: boolean;
  residual?: boolean;
  relu?: boolean;
}

const CASES: DirectCase[] = [
  { name: 'a 1-channel stem, 32x32', x: [3, 1, 32, 32], w: [16, 1, 3, 3], padding: [1, 1], bias: true },
  { name: '3 -> 16 on 28x28 (a row tail of 12)', x: [2, 3, 28, 28], w: [16, 3, 3, 3], padding: [1, 1] },
  {
    name: '16 -> 16 on 20x33 (tails; 20 rows), residual and ReLU',
    x: [2, 16, 20, 33],
    w: [16, 16, 3, 3],
    padding: [1, 1],
    bias: true,
    residual: true,
    relu: true,
  },
  { name: '8 -> 27 (a short last block), 17x16', x: [2, 8, 17, 16], w: [27, 8, 3, 3], padding: [1, 1], bias: true },
  {
    name: '16 -> 32, batch 9 (two groups of four and one image)',
    x: [9, 16, 16, 16],
    w: [32, 16, 3, 3],
    padding: [1, 1],
  },
  { name: '4 -> 5, 5x5 kernel, padding 2', x: [2, 4, 18, 19], w: [5, 4, 5, 5], padding: [2, 2], relu: true },
  { name: '2 -> 12, 1x3 kernel', x: [2, 2, 7, 24], w: [12, 2, 1, 3], padding: [0, 1] },
  { name: '4 -> 12, dilation 2', x: [2, 4, 21, 22], w: [12, 4, 3, 3], padding: [2, 2], dilation: [2, 2] },
  { name: 'padding 0: output 30x18', x: [2, 6, 32, 20], w: [8, 6, 3, 3], padding: [0, 0], bias: true },
  {
    name: '40 -> 18 (wide input, few outputs: an offset predictor)',
    x: [2, 40, 9, 18],
    w: [18, 40, 3, 3],
    padding: [1, 1],
  },
  {
    name: 'a batch of one 40x40 map (rows split across threads)',
    x: [1, 16, 40, 40],
    w: [16, 16, 3, 3],
    padding: [1, 1],
  },
];

/**
 * The float64 weight gradient with the padding's zeros multiplied like any input, as every CPU
 * path computes it (the GEMM's columns hold them too): an infinite output gradient at a border
 * makes its taps that reach into the padding NaN (inf x 0). (PyTorch's CPU backends differ
 * here: one measured NaN there, another skipped the padding.)
 */
function weightGradThroughPadding(g: ConvGeom, gy: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  const gw = new Float64Array(g.O * g.C * g.kh * g.kw);
  for (let n = 0; n < g.N; n++)
    for (let o = 0; o < g.O; o++)
      for (let oy = 0; oy < g.OH; oy++)
        for (let ox = 0; ox < g.OW; ox++) {
          const d = gy[((n * g.O + o) * g.OH + oy) * g.OW + ox];
          for (let c = 0; c < g.C; c++)
            for (let i = 0; i < g.kh; i++)
              for (let j = 0; j < g.kw; j++) {
                const iy = oy - g.padding[0] + i,
                  ix = ox - g.padding[1] + j;
                const inside = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W;
                gw[((o * g.C + c) * g.kh + i) * g.kw + j] +=
                  d * (inside ? x[((n * g.C + c) * g.H + iy) * g.W + ix] : 0);
              }
        }
  return gw;
}

function rand(shape: readonly number[]): Tensor {
  return Tensor.rand([...shape], { low: -1, high: 1 });
}

interface Outputs {
  y: Float32Array;
  gx: Float32Array;
  gw: Float32Array;
  gb: Float32Array | null;
}

/**
 * The eval forward with the case's epilogue (conv2dFused: bias, residual and ReLU in the
 * kernel), and the training conv's gradients of sum(gy * conv(x, w) + b).
 */
function run(c: DirectCase, x: Tensor, w: Tensor, b: Tensor | null, residual: Tensor | null, gy: Tensor): Outputs {
  const geometry = {
    padding: c.padding,
    dilation: c.dilation ?? ([1, 1] as [number, number]),
    stride: c.stride ?? ([1, 1] as [number, number]),
    groups: c.groups ?? 1,
  };
  const y = noGrad(() => ops.conv2dFused(x, w, { ...geometry, bias: b, residual, relu: c.relu ?? false }));
  const xg = x.detach().requireGrad(),
    wg = w.detach().requireGrad(),
    bg = b ? b.detach().requireGrad() : null;
  ops.conv2d(xg, wg, { ...geometry, bias: bg }).backward(gy);
  return { y: y.data, gx: xg.grad!.data, gw: wg.grad!.data, gb: bg ? bg.grad!.data : null };
}

/**
 * Forward (with its epilogue) and both gradients of case c against the float64 convolution on
 * every instruction set, and the same bits at 1 and 2 threads.
 */
function checkAgainstReference(c: DirectCase): void {
  manualSeed(21);
  const x = rand(c.x),
    w = rand(c.w);
  const b = c.bias ? rand([c.w[0]]) : null;
  const g = convGeom(c.x, c.w, c.stride ?? [1, 1], c.padding, c.dilation ?? [1, 1], c.groups ?? 1);
  const outShape = [g.N, g.O, g.OH, g.OW];
  const residual = c.residual ? rand(outShape) : null;
  const gy = rand(outShape);
  // The float64 reference of relu?(conv + bias + residual), and of the conv's gradients.
  const y = refConv2d(g, x.data, w.data, b?.data);
  if (residual) for (let i = 0; i < y.length; i++) y[i] += residual.data[i];
  if (c.relu) for (let i = 0; i < y.length; i++) y[i] = Math.max(y[i], 0);
  const gx = refConv2dGradInput(g, gy.data, w.data);
  const gw = refConv2dGradWeight(g, gy.data, x.data);
  const depth = c.w[1] * c.w[2] * c.w[3];
  for (const set of availableIsas()) {
    setIsa(set);
    setNumThreads(1);
    const one = run(c, x, w, b, residual, gy);
    expectClose(one.y, y, 2e-6 * Math.sqrt(depth), 1e-5);
    expectClose(one.gx, gx, 2e-6 * Math.sqrt(c.w[0] * c.w[2] * c.w[3]), 1e-5);
    expectClose(one.gw, gw, 2e-6 * Math.sqrt(g.N * g.OH * g.OW), 1e-5);
    if (b) expectClose(one.gb!, refChannelSums(outShape, gy.data), 1e-4, 1e-5);
    setNumThreads(2);
    const two = run(c, x, w, b, residual, gy);
    expect(two.y).toEqual(one.y);
    expect(two.gx).toEqual(one.gx);
    expect(two.gw).toEqual(one.gw);
  }
}

describe('thin direct convolution against the float64 reference', () => {
  const saved = { isa: isa().active, threads: getNumThreads() };
  afterAll(() => {
    setIsa(saved.isa);
    setNumThreads(saved.threads);
  });

  for (const c of CASES) {
    test(`${c.name}: forward and every gradient on every instruction set, the same bits at 1 and 2 threads`, () =>
      checkAgainstReference(c));
  }

  test('inf and NaN reach only what their windows touch (a row tail reads the next row: those lanes stay out)', () => {
    manualSeed(22);
    // 20 columns: a vector of 16 and a tail of 4; the non-finite values sit in a row's first
    // columns, which the previous row's tail lanes would read past its end.
    const shape: [number, number, number, number] = [2, 3, 6, 20];
    const x = rand(shape),
      w = rand([8, 3, 3, 3]);
    x.data[(0 * 3 + 1) * 120 + 2 * 20 + 0] = Infinity;
    x.data[(1 * 3 + 2) * 120 + 4 * 20 + 1] = NaN;
    const gy = rand([2, 8, 6, 20]);
    gy.data[(1 * 8 + 3) * 120 + 3 * 20 + 0] = -Infinity;
    const g = convGeom(shape, [8, 3, 3, 3], [1, 1], [1, 1], [1, 1], 1);
    const expected = {
      y: refConv2d(g, x.data, w.data),
      gx: refConv2dGradInput(g, gy.data, w.data),
      gw: weightGradThroughPadding(g, gy.data, x.data),
    };
    const kind = (v: number) => (Number.isNaN(v) ? 'NaN' : Number.isFinite(v) ? 'finite' : String(v));
    for (const set of availableIsas()) {
      setIsa(set);
      const got = run({ name: '', x: shape, w: [8, 3, 3, 3], padding: [1, 1] }, x, w, null, null, gy);
      for (const [name, actual, want] of [
        ['y', got.y, expected.y],
        ['gx', got.gx, expected.gx],
        ['gw', got.gw, expected.gw],
      ] as const) {
        expect({ set, name, kinds: Array.from(actual, kind) }).toEqual({ set, name, kinds: Array.from(want, kind) });
      }
    }
  });
});

/**
 * Depthwise convolutions (native/cpu/conv2d_depthwise.h): each input plane copied with its
 * border and split into stride phases, a few output rows' vectors kept in registers across the
 * taps; the input gradient of a stride-1 layer as the same kernel over grad_out, the weight
 * gradient as vectors of products per tap.
 */
describe('depthwise convolution against the float64 reference', () => {
  const saved = { isa: isa().active, threads: getNumThreads() };
  afterAll(() => {
    setIsa(saved.isa);
    setNumThreads(saved.threads);
  });

  const DEPTHWISE: DirectCase[] = [
    {
      name: '3x3, 20x37 (row tails), bias, residual and ReLU',
      x: [2, 6, 20, 37],
      w: [6, 1, 3, 3],
      padding: [1, 1],
      groups: 6,
      bias: true,
      residual: true,
      relu: true,
    },
    { name: '3x3 stride 2, 28x28', x: [2, 8, 28, 28], w: [8, 1, 3, 3], padding: [1, 1], stride: [2, 2], groups: 8 },
    {
      name: 'stride 3 by 2, 5x5, padding 2',
      x: [2, 4, 23, 30],
      w: [4, 1, 5, 5],
      padding: [2, 2],
      stride: [3, 2],
      groups: 4,
    },
    {
      name: 'multiplier 2, dilation 2',
      x: [2, 3, 18, 19],
      w: [6, 1, 3, 3],
      padding: [2, 2],
      dilation: [2, 2],
      groups: 3,
    },
    {
      name: 'stride 2, padding 3 (wider than the kernel reaches: the input gradient by row loops)',
      x: [2, 4, 15, 21],
      w: [4, 1, 3, 3],
      padding: [3, 3],
      stride: [2, 2],
      groups: 4,
    },
    { name: '1x7 kernel, padding 0', x: [2, 5, 9, 40], w: [5, 1, 1, 7], padding: [0, 0], groups: 5, bias: true },
    // Rows that fit the registers run from them (3x3, stride 1 or 2, no dilation; input rows of up
    // to two vectors, output rows of one): vectors of 16 floats under AVX-512, 8 under AVX2, 4 with
    // generic vectors.
    {
      name: '3x3 on 7x7 maps (rows in registers), bias, residual and ReLU',
      x: [3, 6, 7, 7],
      w: [6, 1, 3, 3],
      padding: [1, 1],
      groups: 6,
      bias: true,
      residual: true,
      relu: true,
    },
    {
      name: '3x3 stride 2 on 14x14 maps, multiplier 2, bias (rows in registers)',
      x: [2, 4, 14, 14],
      w: [8, 1, 3, 3],
      padding: [1, 1],
      stride: [2, 2],
      groups: 4,
      bias: true,
    },
    {
      name: '3x3 stride 2 on 13x13 maps (rows in registers, the input gradient too)',
      x: [3, 5, 13, 13],
      w: [5, 1, 3, 3],
      padding: [1, 1],
      stride: [2, 2],
      groups: 5,
    },
    {
      name: '3x3 stride 2 on 9x32 maps (rows of two AVX-512 vectors), bias',
      x: [2, 3, 9, 32],
      w: [3, 1, 3, 3],
      padding: [1, 1],
      stride: [2, 2],
      groups: 3,
      bias: true,
    },
    {
      name: '3x3 stride 2 on 7x31 maps',
      x: [2, 3, 7, 31],
      w: [3, 1, 3, 3],
      padding: [1, 1],
      stride: [2, 2],
      groups: 3,
    },
    {
      name: '3x3 on 6x18 maps, padding 1 by 0 (18 floats in, 16 out)',
      x: [2, 3, 6, 18],
      w: [3, 1, 3, 3],
      padding: [1, 0],
      groups: 3,
    },
    { name: '3x3 on 11x16 maps (a whole AVX-512 row)', x: [2, 3, 11, 16], w: [3, 1, 3, 3], padding: [1, 1], groups: 3 },
    {
      name: '3x3 stride 2 on 6x6 and 3x5 maps, padding 0 and 2',
      x: [2, 5, 6, 6],
      w: [5, 1, 3, 3],
      padding: [2, 0],
      stride: [2, 2],
      groups: 5,
    },
    { name: '3x3 on 5x4 maps (a whole SSE row)', x: [2, 3, 5, 4], w: [3, 1, 3, 3], padding: [1, 1], groups: 3 },
    {
      name: '3x3 stride 2 on 4x4 maps (a whole SSE row)',
      x: [2, 3, 4, 4],
      w: [3, 1, 3, 3],
      padding: [1, 1],
      stride: [2, 2],
      groups: 3,
    },
    {
      name: '3x3 on 3x5 maps, padding 0 (one output row)',
      x: [2, 3, 3, 5],
      w: [3, 1, 3, 3],
      padding: [0, 0],
      groups: 3,
    },
    {
      name: 'a batch of one 48x48 map (rows split across threads)',
      x: [1, 3, 48, 48],
      w: [3, 1, 3, 3],
      padding: [1, 1],
      groups: 3,
    },
  ];
  for (const c of DEPTHWISE) {
    test(`${c.name}: forward and every gradient on every instruction set, the same bits at 1 and 2 threads`, () =>
      checkAgainstReference(c));
  }
});
