import { ops, setNumThreads, getNumThreads, Tensor, ShapeError, ArgumentError, manualSeed } from '../lib';
import { native } from '../lib/native';
import { expectCudaMatchesCpu } from './device_compare';
import {
  convGeom,
  refConv2d,
  refConv2dGradInput,
  refConv2dGradWeight,
  refChannelSums,
  refConvTranspose2d,
} from './reference/conv';
import { expectClose, describeCuda } from './helpers';
import { OnnxGraphBuilder, attr } from '../lib/onnx/builder';
import { runOnnx } from '../lib/onnx/ort';

type P2 = [number, number];
interface Case {
  name: string;
  x: number[];
  w: number[];
  stride?: P2;
  padding?: P2;
  dilation?: P2;
  groups?: number;
  bias?: boolean;
}

// Each case exercises a different path: folded batch vs per-image GEMM, the 1x1 plain-matrix
// source, several k blocks (K > 256), several grad_input channel blocks (K > 512), depthwise,
// and kn2row (stride 1, groups 1, at most 27 output channels: cpu/conv2d_kn2row.h).
const cases: Case[] = [
  { name: '3x3 pad 1 with bias', x: [2, 3, 7, 7], w: [4, 3, 3, 3], padding: [1, 1], bias: true },
  { name: 'batch 1, odd 5x9, stride 2', x: [1, 3, 5, 9], w: [5, 3, 3, 3], stride: [2, 2], padding: [1, 1], bias: true },
  { name: 'dilation 2', x: [2, 2, 9, 8], w: [3, 2, 3, 3], padding: [2, 2], dilation: [2, 2] },
  {
    name: 'rectangular 2x3 kernel, stride [2, 1]',
    x: [2, 3, 7, 6],
    w: [4, 3, 2, 3],
    stride: [2, 1],
    padding: [0, 1],
    bias: true,
  },
  { name: 'groups 2', x: [2, 4, 6, 5], w: [6, 2, 3, 3], padding: [1, 1], groups: 2, bias: true },
  {
    name: 'depthwise stride 2',
    x: [2, 3, 7, 7],
    w: [3, 1, 3, 3],
    stride: [2, 2],
    padding: [1, 1],
    groups: 3,
    bias: true,
  },
  {
    name: 'depthwise multiplier 2, dilation',
    x: [1, 3, 8, 9],
    w: [6, 1, 3, 2],
    padding: [2, 1],
    dilation: [2, 1],
    groups: 3,
  },
  { name: '1x1 batch 1 (plain matrix)', x: [1, 8, 5, 6], w: [7, 8, 1, 1], bias: true },
  { name: '1x1 batch 3 (folded)', x: [3, 8, 5, 6], w: [7, 8, 1, 1] },
  { name: '1x1 stride 2', x: [2, 5, 7, 7], w: [3, 5, 1, 1], stride: [2, 2] },
  { name: 'per-image GEMM (32x32)', x: [2, 12, 32, 32], w: [36, 12, 3, 3], padding: [1, 1], bias: true },
  { name: 'K > 512: several k blocks and channel blocks', x: [3, 64, 5, 5], w: [40, 64, 3, 3], padding: [1, 1] },
  {
    name: 'kn2row: offset-predictor shape, images in two chunks',
    x: [3, 4, 32, 32],
    w: [27, 4, 3, 3],
    padding: [1, 1],
    bias: true,
  },
  {
    name: 'kn2row: dilation [2, 1], 3x2 kernel, output wider than the input',
    x: [2, 3, 10, 11],
    w: [9, 3, 3, 2],
    padding: [2, 1],
    dilation: [2, 1],
  },
  {
    name: 'kn2row: no padding (border input pixels feed fewer outputs)',
    x: [2, 3, 20, 20],
    w: [6, 3, 3, 3],
    bias: true,
  },
  {
    name: 'stride 2 with K > 512 (col2im path, several channel blocks)',
    x: [2, 64, 7, 7],
    w: [6, 64, 3, 3],
    stride: [2, 2],
    padding: [1, 1],
  },
  { name: 'padding wider than the kernel reach', x: [1, 2, 4, 5], w: [3, 2, 2, 2], padding: [2, 3], bias: true },
  {
    name: 'weight gradient over several GEMM calls (1 image each)',
    x: [2, 1, 48, 64],
    w: [44, 1, 1, 2],
    padding: [0, 0],
  },
  // Output rows >= 16 wide take the row-run packers (narrower ones a per-tap offset table).
  {
    name: 'wide rows: stride 2 on odd sizes',
    x: [2, 3, 9, 37],
    w: [4, 3, 3, 3],
    stride: [2, 2],
    padding: [1, 1],
    bias: true,
  },
  {
    name: 'wide rows: dilation [2, 3], stride [1, 2]',
    x: [1, 2, 6, 40],
    w: [3, 2, 3, 3],
    stride: [1, 2],
    padding: [2, 2],
    dilation: [2, 3],
  },
  { name: 'wide rows: groups 2, 1x3 kernel', x: [3, 4, 3, 20], w: [4, 2, 1, 3], padding: [0, 1], groups: 2 },
  // Strided convs use the offset table unless it would exceed 65536 entries (kh*kw*P).
  {
    name: 'large strided image: row gather path',
    x: [1, 2, 60, 300],
    w: [2, 2, 5, 5],
    stride: [2, 3],
    padding: [2, 3],
    dilation: [1, 2],
  },
  {
    name: 'wide rows stride 1: column runs longer than 64 pixels',
    x: [1, 2, 5, 80],
    w: [3, 2, 3, 3],
    padding: [1, 1],
    bias: true,
  },
  { name: 'kernel as large as the padded input', x: [2, 2, 3, 4], w: [3, 2, 5, 6], padding: [1, 1] },
  // The weight gradient's fused gather-and-transpose packer (stride-1 rows >= 16 wide, AVX-512):
  // 16-pixel pieces with ragged ends, taps not a multiple of the 48-column panel, padding lanes.
  {
    name: 'weight-grad packer: odd width 21, padding wider than the kernel, 27 taps',
    x: [2, 3, 5, 17],
    w: [30, 3, 3, 3],
    padding: [3, 3],
    bias: true,
  },
  {
    name: 'weight-grad packer: dilation [2, 3], stride [2, 1], groups 2',
    x: [2, 4, 9, 23],
    w: [6, 2, 3, 3],
    stride: [2, 1],
    padding: [2, 3],
    dilation: [2, 3],
    groups: 2,
  },
  {
    name: 'weight-grad packer: 5x5 kernel, 125 taps, k blocks spanning images',
    x: [3, 5, 4, 16],
    w: [32, 5, 5, 5],
    padding: [2, 2],
  },
  // From 2048 output pixels in all, the weight gradient sums two halves of the batch.
  {
    name: 'weight gradient as two batch halves: odd batch (2 + 1 images)',
    x: [3, 6, 20, 40],
    w: [30, 6, 3, 3],
    padding: [1, 1],
    bias: true,
  },
  {
    name: 'weight gradient as two batch halves: groups 2',
    x: [3, 4, 24, 32],
    w: [8, 2, 3, 3],
    padding: [1, 1],
    groups: 2,
  },
  // Stride-2 rows take the AVX-512 stride-2 packer (two loads and an even-lane permute per 16
  // columns; masks for the padding) in the forward and in the weight gradient's transposing pass.
  {
    name: 'stride-2 packer: 4-wide rows, dilation 2, padding wider than the reach, batch 3',
    x: [3, 5, 9, 8],
    w: [7, 5, 3, 3],
    stride: [2, 2],
    padding: [3, 3],
    dilation: [2, 2],
    bias: true,
  },
  {
    name: 'stride-2 packer: 1x1 kernel, odd width 33 (17 columns: a 1-lane edge piece)',
    x: [2, 6, 5, 33],
    w: [9, 6, 1, 1],
    stride: [2, 2],
  },
  {
    name: 'stride-2 packer: rows of 4150 columns, longer than the piece table',
    x: [1, 2, 3, 8300],
    w: [3, 2, 3, 3],
    stride: [2, 2],
    padding: [1, 1],
    bias: true,
  },
  // Output rows under 16 wide read a per-tap offset table; on AVX-512 in pieces of 16 pixels
  // across rows: one masked load each where the table is pixel + shift (stride 1, rows as wide
  // as the input's), a gather elsewhere. Over 27 outputs and under 32 channels: the GEMM path.
  {
    name: 'small-image packer: "same" dilation 2 on 8x8, runs across images and 48-column panels',
    x: [5, 6, 8, 8],
    w: [60, 6, 3, 3],
    padding: [2, 2],
    dilation: [2, 2],
    bias: true,
  },
  { name: 'small-image packer: unpadded 3x3 on 7x9 (gathered), batch 3', x: [3, 5, 7, 9], w: [30, 5, 3, 3] },
  {
    name: 'small-image packer: stride 3, 2x4 kernel (gathered)',
    x: [2, 4, 10, 11],
    w: [32, 4, 2, 4],
    stride: [3, 3],
    padding: [1, 2],
  },
  // Channel planes of at most 64 floats without a constant shift: each plane is held in one,
  // two or four registers and every kernel position's pixels are permuted out of them (forward
  // columns and the weight gradient's transposed ones).
  {
    name: 'tiny-plane packer: 8x8 -> 4x4 stride 2, 64 channels (k blocks split a channel), batch 5',
    x: [5, 64, 8, 8],
    w: [40, 64, 3, 3],
    stride: [2, 2],
    padding: [1, 1],
    bias: true,
  },
  {
    name: 'tiny-plane packer: 7x7 (four registers, the last partial) stride 2, 5x5 kernel',
    x: [3, 4, 7, 7],
    w: [36, 4, 5, 5],
    stride: [2, 2],
    padding: [2, 2],
  },
  {
    name: 'tiny-plane packer: 5x5 (two registers) stride 2, dilation 2, padding 2',
    x: [2, 6, 5, 5],
    w: [33, 6, 3, 3],
    stride: [2, 2],
    padding: [2, 2],
    dilation: [2, 2],
  },
  {
    name: 'tiny-plane packer: 4x4 (one register) stride 2, 2x2 kernel',
    x: [7, 9, 4, 4],
    w: [35, 9, 2, 2],
    stride: [2, 2],
  },
  { name: 'tiny-plane packer: unpadded 3x3 on 6x6 (stride 1, no shift)', x: [3, 5, 6, 6], w: [40, 5, 3, 3] },
  {
    name: 'tiny-plane packer: 3x3 plane padded by 4 (81 outputs: 6 pieces per position)',
    x: [2, 3, 3, 3],
    w: [32, 3, 3, 3],
    padding: [4, 4],
  },
  {
    name: 'weight-grad packer: 11x11 kernel, 300-pixel rows split across mask tables',
    x: [1, 2, 12, 300],
    w: [28, 2, 11, 11],
    padding: [5, 5],
  },
];

function rand(shape: number[]): Tensor {
  return Tensor.randn(shape);
}

function geomOf(c: Case) {
  return convGeom(c.x, c.w, c.stride ?? [1, 1], c.padding ?? [0, 0], c.dilation ?? [1, 1], c.groups ?? 1);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

describe('conv2d against the float64 reference', () => {
  beforeEach(() => manualSeed(11));
  for (const c of cases) {
    test(`${c.name}: forward and every gradient`, () => {
      const x = rand(c.x).requireGrad(),
        w = rand(c.w).requireGrad();
      const b = c.bias ? rand([c.w[0]]).requireGrad() : null;
      const y = ops.conv2d(x, w, {
        bias: b,
        stride: c.stride,
        padding: c.padding,
        dilation: c.dilation,
        groups: c.groups,
      });
      const g = geomOf(c);
      expect(y.shape).toEqual([g.N, g.O, g.OH, g.OW]);
      const K = (c.x[1] / (c.groups ?? 1)) * c.w[2] * c.w[3];
      const tol = 2e-5 * Math.sqrt(K);
      expectClose(y.data, refConv2d(g, x.data, w.data, b?.data), tol, 1e-4);
      const gy = rand([...y.shape]);
      y.backward(gy);
      expectClose(x.grad!.data, refConv2dGradInput(g, gy.data, w.data), tol * 2, 1e-4);
      expectClose(w.grad!.data, refConv2dGradWeight(g, gy.data, x.data), 2e-5 * Math.sqrt(g.N * g.OH * g.OW) * 4, 1e-4);
      if (b) expectClose(b.grad!.data, refChannelSums(y.shape, gy.data), 1e-4, 1e-4);
    });
  }
});

describe('conv2d gradients by finite differences', () => {
  // conv2d is linear in input and in weight, so a central difference along a random
  // direction equals the directional derivative up to float32 rounding.
  test('directional derivatives match <grad, direction>', () => {
    manualSeed(3);
    const c = {
      x: [2, 4, 6, 5],
      w: [6, 2, 3, 2],
      stride: [2, 1] as P2,
      padding: [1, 0] as P2,
      dilation: [1, 2] as P2,
      groups: 2,
    };
    const x = rand(c.x).requireGrad(),
      w = rand(c.w).requireGrad(),
      b = rand([6]).requireGrad();
    const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
    const y = ops.conv2d(x, w, { ...opts, bias: b });
    const gy = rand([...y.shape]);
    y.backward(gy);
    const loss = (xx: Tensor, ww: Tensor, bb: Tensor) => dot(ops.conv2d(xx, ww, { ...opts, bias: bb }).data, gy.data);
    const shift = (t: Tensor, d: Tensor, s: number) =>
      Tensor.from(
        t.data.map((v, i) => v + s * d.data[i]),
        [...t.shape],
      );
    for (const [t, which] of [
      [x, 0],
      [w, 1],
      [b, 2],
    ] as const) {
      const d = rand([...t.shape]);
      const eps = 0.5;
      const args = (s: number) =>
        [x, w, b].map((u, k) => (k === which ? shift(u, d, s) : u.detach())) as [Tensor, Tensor, Tensor];
      const fd = (loss(...args(eps)) - loss(...args(-eps))) / (2 * eps);
      const analytic = dot(t.grad!.data, d.data);
      expect(Math.abs(fd - analytic)).toBeLessThan(1e-3 * (1 + Math.abs(analytic)));
    }
  });
});

describe('convTranspose2d', () => {
  const tcases: {
    name: string;
    x: number[];
    w: number[];
    stride?: P2;
    padding?: P2;
    outputPadding?: P2;
    dilation?: P2;
    groups?: number;
    bias?: boolean;
  }[] = [
    {
      name: 'stride 2, output padding 1, bias',
      x: [2, 3, 5, 4],
      w: [3, 4, 3, 3],
      stride: [2, 2],
      padding: [1, 1],
      outputPadding: [1, 1],
      bias: true,
    },
    {
      name: 'batch 1, groups 2, dilation 2',
      x: [1, 4, 4, 5],
      w: [4, 3, 2, 3],
      padding: [1, 0],
      dilation: [2, 2],
      groups: 2,
    },
    {
      name: 'output padding >= stride (allowed by dilation)',
      x: [2, 2, 3, 3],
      w: [2, 3, 3, 3],
      stride: [1, 1],
      dilation: [2, 2],
      outputPadding: [1, 1],
      bias: true,
    },
    { name: 'depthwise-style groups', x: [2, 3, 4, 4], w: [3, 1, 3, 3], stride: [2, 2], groups: 3 },
  ];
  beforeEach(() => manualSeed(5));
  for (const c of tcases) {
    test(`${c.name}: forward vs reference, gradients vs conv2d relations and finite differences`, () => {
      const x = rand(c.x).requireGrad(),
        w = rand(c.w).requireGrad();
      const b = c.bias ? rand([c.w[1] * (c.groups ?? 1)]).requireGrad() : null;
      const opts = {
        stride: c.stride,
        padding: c.padding,
        outputPadding: c.outputPadding,
        dilation: c.dilation,
        groups: c.groups,
      };
      const y = ops.convTranspose2d(x, w, { ...opts, bias: b });
      const ref = refConvTranspose2d(
        c.x,
        x.data,
        c.w,
        w.data,
        b?.data ?? null,
        c.stride ?? [1, 1],
        c.padding ?? [0, 0],
        c.outputPadding ?? [0, 0],
        c.dilation ?? [1, 1],
        c.groups ?? 1,
      );
      expect(y.shape).toEqual(ref.shape);
      expectClose(y.data, ref.out, 1e-4, 1e-4);
      const gy = rand([...y.shape]);
      y.backward(gy);
      // Directional derivatives (convTranspose2d is linear in x, w and b).
      const loss = (xx: Tensor, ww: Tensor, bb: Tensor | null) =>
        dot(ops.convTranspose2d(xx, ww, { ...opts, bias: bb }).data, gy.data);
      const shift = (t: Tensor, d: Tensor, s: number) =>
        Tensor.from(
          t.data.map((v, i) => v + s * d.data[i]),
          [...t.shape],
        );
      const inputs = [x, w, b].filter((t): t is Tensor => t !== null);
      inputs.forEach((t, which) => {
        const d = rand([...t.shape]);
        const args = (s: number) =>
          [x, w, b].map((u, k) => (u === null ? null : k === which ? shift(u, d, s) : u.detach())) as [
            Tensor,
            Tensor,
            Tensor | null,
          ];
        const fd = (loss(...args(0.5)) - loss(...args(-0.5))) / 1;
        expect(Math.abs(fd - dot(t.grad!.data, d.data))).toBeLessThan(1e-3 * (1 + Math.abs(fd)));
      });
      if (b) expectClose(b.grad!.data, refChannelSums(y.shape, gy.data), 1e-4, 1e-4);
    });
  }
});

describe('against ONNX Runtime', () => {
  // ORT's Conv / ConvTranspose are an independent implementation of the same definitions.
  async function ortConv(
    op: 'Conv' | 'ConvTranspose',
    x: Tensor,
    w: Tensor,
    b: Tensor | null,
    attrs: Record<string, ReturnType<typeof attr.ints> | ReturnType<typeof attr.int>>,
    outShape: readonly number[],
  ): Promise<Tensor> {
    const builder = new OnnxGraphBuilder({ opset: 19 }).input('x', [...x.shape]).initializer('w', w);
    if (b) builder.initializer('b', b);
    builder.node(op, b ? ['x', 'w', 'b'] : ['x', 'w'], ['y'], attrs).output('y', [...outShape]);
    return (await runOnnx(builder.toBytes(), { x }, { threads: 1 })).y;
  }
  const pairs = (s: P2, p: P2, d: P2) => ({
    strides: attr.ints(s),
    pads: attr.ints([p[0], p[1], p[0], p[1]]),
    dilations: attr.ints(d),
  });

  test('conv2d matches ORT Conv (stride, padding, dilation, groups, depthwise, 1x1)', async () => {
    manualSeed(13);
    for (const c of cases.filter((cc) => !cc.name.startsWith('per-image'))) {
      const x = rand(c.x),
        w = rand(c.w),
        b = c.bias ? rand([c.w[0]]) : null;
      const s = c.stride ?? [1, 1],
        p = c.padding ?? [0, 0],
        d = c.dilation ?? [1, 1];
      const y = ops.conv2d(x, w, { bias: b, stride: s, padding: p, dilation: d, groups: c.groups });
      const ort = await ortConv(
        'Conv',
        x,
        w,
        b,
        { ...pairs(s, p, d), group: attr.int(c.groups ?? 1), kernel_shape: attr.ints([c.w[2], c.w[3]]) },
        y.shape,
      );
      expect(ort.shape).toEqual(y.shape);
      expectClose(y.data, ort.data, 1e-4, 1e-4);
    }
  });

  test('convTranspose2d matches ORT ConvTranspose (output padding, groups, dilation)', async () => {
    manualSeed(17);
    const tc: [number[], number[], P2, P2, P2, P2, number][] = [
      [[2, 3, 5, 4], [3, 4, 3, 3], [2, 2], [1, 1], [1, 1], [1, 1], 1],
      [[1, 4, 4, 5], [4, 3, 2, 3], [1, 2], [1, 0], [0, 1], [2, 1], 2],
      [[2, 6, 3, 3], [6, 1, 3, 3], [2, 2], [0, 0], [0, 0], [1, 1], 6],
    ];
    for (const [xs, ws, s, p, op, d, groups] of tc) {
      const x = rand(xs),
        w = rand(ws),
        b = rand([ws[1] * groups]);
      const y = ops.convTranspose2d(x, w, { bias: b, stride: s, padding: p, outputPadding: op, dilation: d, groups });
      const ort = await ortConv(
        'ConvTranspose',
        x,
        w,
        b,
        {
          ...pairs(s, p, d),
          output_padding: attr.ints(op),
          group: attr.int(groups),
          kernel_shape: attr.ints([ws[2], ws[3]]),
        },
        y.shape,
      );
      expect(ort.shape).toEqual(y.shape);
      expectClose(y.data, ort.data, 1e-4, 1e-4);
    }
  });
});

describe('linear', () => {
  test('forward and gradients vs float64 loops, leading dimensions kept', () => {
    manualSeed(9);
    const x = rand([2, 3, 5]).requireGrad(),
      w = rand([4, 5]).requireGrad(),
      b = rand([4]).requireGrad();
    const y = ops.linear(x, w, b);
    expect(y.shape).toEqual([2, 3, 4]);
    const R = 6,
      I = 5,
      O = 4;
    const want = new Float64Array(R * O);
    for (let r = 0; r < R; r++)
      for (let o = 0; o < O; o++) {
        let s = b.data[o];
        for (let i = 0; i < I; i++) s += x.data[r * I + i] * w.data[o * I + i];
        want[r * O + o] = s;
      }
    expectClose(y.data, want, 1e-5, 1e-5);
    const gy = rand([2, 3, 4]);
    y.backward(gy);
    const gx = new Float64Array(R * I),
      gw = new Float64Array(O * I),
      gb = new Float64Array(O);
    for (let r = 0; r < R; r++)
      for (let o = 0; o < O; o++) {
        const g = gy.data[r * O + o];
        gb[o] += g;
        for (let i = 0; i < I; i++) {
          gx[r * I + i] += g * w.data[o * I + i];
          gw[o * I + i] += g * x.data[r * I + i];
        }
      }
    expectClose(x.grad!.data, gx, 1e-5, 1e-5);
    expectClose(w.grad!.data, gw, 1e-5, 1e-5);
    expectClose(b.grad!.data, gb, 1e-5, 1e-5);
  });

  test('errors name the expectation', () => {
    expect(() => ops.linear(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))).toThrow(
      /expected input with 5 features.*received 3/,
    );
    expect(() => ops.linear(Tensor.zeros([2, 5]), Tensor.zeros([4, 5]), Tensor.zeros([3]))).toThrow(ShapeError);
    expect(() => ops.linear(Tensor.zeros([2, 5]), Tensor.zeros([20]))).toThrow(/2-D tensor/);
  });
});

describe('empty tensors', () => {
  test('batch 0, zero input channels, zero features: right shapes, zero gradients, bias only', () => {
    const x = Tensor.zeros([0, 3, 5, 5]).requireGrad(),
      w = Tensor.randn([4, 3, 3, 3]).requireGrad(),
      b = Tensor.randn([4]).requireGrad();
    const y = ops.conv2d(x, w, { bias: b, padding: 1 });
    expect(y.shape).toEqual([0, 4, 5, 5]);
    y.backward(Tensor.zeros([0, 4, 5, 5]));
    expect(w.grad!.toArray().every((v) => v === 0)).toBe(true);
    expect(b.grad!.toArray().every((v) => v === 0)).toBe(true);
    expect(ops.convTranspose2d(Tensor.randn([0, 4, 3, 3]), Tensor.randn([4, 2, 3, 3]), { stride: 2 }).shape).toEqual([
      0, 2, 7, 7,
    ]);
    expect(
      ops
        .conv2d(Tensor.randn([2, 0, 4, 4]), Tensor.randn([3, 0, 3, 3]), { bias: Tensor.ones([3]) })
        .toArray()
        .every((v) => v === 1),
    ).toBe(true);
    expect(ops.linear(Tensor.randn([0, 5]), Tensor.randn([3, 5])).shape).toEqual([0, 3]);
    const l = ops.linear(Tensor.randn([2, 0]), Tensor.randn([3, 0]), Tensor.from([1, 2, 3]));
    expect(l.toArray()).toEqual([1, 2, 3, 1, 2, 3]);
  });
});

describe('determinism', () => {
  const threads = getNumThreads();
  afterAll(() => setNumThreads(threads));
  test('forward and backward are bit-identical at 1 and 2 threads', () => {
    const run = (t: number) => {
      setNumThreads(t);
      manualSeed(21);
      const results: number[][] = [];
      for (const [xs, ws, groups] of [
        [[4, 16, 9, 9], [24, 16, 3, 3], 1],
        [[2, 64, 6, 6], [20, 64, 3, 3], 1],
        [[3, 8, 7, 7], [8, 1, 3, 3], 8],
      ] as const) {
        const x = rand([...xs]).requireGrad(),
          w = rand([...ws]).requireGrad(),
          b = rand([ws[0]]).requireGrad();
        const y = ops.conv2d(x, w, { bias: b, padding: 1, stride: [1, 2], groups });
        y.backward(rand([...y.shape]));
        results.push(y.toArray(), x.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray());
        const t2 = ops.convTranspose2d(y.detach(), w.detach(), { padding: 1, stride: [1, 2], groups });
        results.push(t2.toArray());
      }
      return results;
    };
    const one = run(1),
      two = run(2);
    expect(two.length).toBe(one.length);
    for (let i = 0; i < one.length; i++) expect(new Float32Array(two[i])).toEqual(new Float32Array(one[i]));
  });

  test('stride 1, small and large maps (whole images per thread) are bit-identical at 1 and 2 threads', () => {
    const run = (t: number) => {
      setNumThreads(t);
      manualSeed(24);
      const results: number[][] = [];
      for (const [xs, ws] of [
        [
          [3, 8, 16, 16],
          [32, 8, 3, 3],
        ],
        [
          [5, 6, 17, 18],
          [7, 6, 3, 3],
        ],
        [
          [4, 4, 32, 32],
          [32, 4, 3, 3],
        ],
        [
          [3, 6, 20, 40],
          [30, 6, 3, 3],
        ],
      ] as const) {
        const x = rand([...xs]).requireGrad(),
          w = rand([...ws]).requireGrad();
        const y = ops.conv2d(x, w, { padding: 1 });
        y.backward(rand([...y.shape]));
        results.push(y.toArray(), x.grad!.toArray(), w.grad!.toArray());
      }
      return results;
    };
    const one = run(1),
      two = run(2);
    for (let i = 0; i < one.length; i++) expect(new Float32Array(two[i])).toEqual(new Float32Array(one[i]));
  });

  test('the kn2row path (few output channels) is bit-identical at 1 and 2 threads', () => {
    const run = (t: number) => {
      setNumThreads(t);
      manualSeed(22);
      const x = rand([3, 8, 32, 32]).requireGrad(),
        w = rand([18, 8, 3, 3]).requireGrad();
      const y = ops.conv2d(x, w, { padding: 1 });
      y.backward(rand([...y.shape]));
      return [y.toArray(), x.grad!.toArray(), w.grad!.toArray()];
    };
    const one = run(1),
      two = run(2);
    for (let i = 0; i < one.length; i++) expect(new Float32Array(two[i])).toEqual(new Float32Array(one[i]));
  });
});

describe('conv2d argument errors', () => {
  const x = Tensor.zeros([1, 4, 5, 5]),
    w = Tensor.zeros([6, 4, 3, 3]);
  test('wrong ndim names the layout and the received shape', () => {
    expect(() => ops.conv2d(Tensor.zeros([4, 5, 5]), w)).toThrow(
      /expected input to be a 4-D tensor \[N, C, H, W\] but received shape \[4, 5, 5\]/,
    );
    expect(() => ops.conv2d(x, Tensor.zeros([6, 4, 3]))).toThrow(ShapeError);
  });
  test('channel mismatch names expected and received', () => {
    expect(() => ops.conv2d(Tensor.zeros([1, 3, 5, 5]), w)).toThrow(
      /expected input to have 4 channels.*received 3 channels/,
    );
  });
  test('groups not dividing the channels', () => {
    expect(() => ops.conv2d(Tensor.zeros([1, 4, 5, 5]), Tensor.zeros([6, 2, 3, 3]), { groups: 3 })).toThrow(
      /groups \(3\) to divide/,
    );
  });
  test('kernel larger than the padded input', () => {
    expect(() => ops.conv2d(Tensor.zeros([1, 4, 2, 2]), w)).toThrow(/larger than the padded input 2x2/);
    expect(() => ops.conv2d(Tensor.zeros([1, 4, 2, 2]), w, { padding: 1 })).not.toThrow();
  });
  test('non-integer or negative stride / padding / dilation / groups', () => {
    expect(() => ops.conv2d(x, w, { stride: 1.5 })).toThrow(ArgumentError);
    expect(() => ops.conv2d(x, w, { stride: 0 })).toThrow(
      /expected stride to be an integer or a pair of positive integers but received 0/,
    );
    expect(() => ops.conv2d(x, w, { padding: -1 })).toThrow(/padding/);
    expect(() => ops.conv2d(x, w, { dilation: [1, 0] })).toThrow(/dilation/);
    expect(() => ops.conv2d(x, w, { groups: 0 })).toThrow(/groups/);
    expect(() => ops.conv2d(x, w, { padding: 'same', stride: 2 })).toThrow(/'same'/);
  });
  test('bias of the wrong shape, not a tensor', () => {
    expect(() => ops.conv2d(x, w, { bias: Tensor.zeros([5]) })).toThrow(/expected bias of shape \[6\].*received \[5\]/);
    expect(() => ops.conv2d(x, 3 as unknown as Tensor)).toThrow(
      /expected weight to be a Tensor but received 3 of type number/,
    );
  });
  test('convTranspose2d: channels, output padding', () => {
    expect(() => ops.convTranspose2d(Tensor.zeros([1, 3, 4, 4]), Tensor.zeros([4, 2, 3, 3]))).toThrow(
      /expected input to have 4 channels.*received 3/,
    );
    expect(() =>
      ops.convTranspose2d(Tensor.zeros([1, 4, 4, 4]), Tensor.zeros([4, 2, 3, 3]), { stride: 2, outputPadding: 2 }),
    ).toThrow(/outputPadding to be smaller than stride or dilation/);
  });
  test('the native layer re-checks shapes (no out-of-bounds access)', () => {
    const out = Tensor.zeros([1, 6, 4, 4]);
    expect(() =>
      native().conv2d(x, w, null, out, { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }),
    ).toThrow(ShapeError);
    expect(() =>
      native().conv2d(x, Tensor.zeros([6, 2, 3, 3]), null, Tensor.zeros([1, 6, 3, 3]), {
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
      }),
    ).toThrow(ShapeError);
  });
});

const gpu = describeCuda('conv.test');
gpu('conv2d, convTranspose2d and linear on CUDA match the CPU', () => {
  test('forward and every gradient', () => {
    manualSeed(31);
    for (const c of cases) {
      const inputs = [rand(c.x), rand(c.w), rand([c.w[0]])];
      expectCudaMatchesCpu(
        (x, w, b) =>
          ops.conv2d(x, w, { bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups }),
        inputs,
        [true, true, true],
        1e-3,
      );
    }
    expectCudaMatchesCpu(
      (x, w, b) => ops.convTranspose2d(x, w, { bias: b, stride: 2, padding: 1, outputPadding: 1, groups: 2 }),
      [rand([2, 4, 5, 4]), rand([4, 3, 3, 3]), rand([6])],
      [true, true, true],
      1e-3,
    );
    expectCudaMatchesCpu((x, w, b) => ops.linear(x, w, b), [rand([3, 7]), rand([5, 7]), rand([5])], [true, true, true]);
  });
});
