/**
 * ops.deformConv2d against ONNX Runtime's DeformConv (forward), a naive float64 reference
 * (forward and every gradient), finite differences, a plain convolution (zero offsets, mask
 * 1), 1 vs 2 threads, non-finite offsets and bad input.
 */
import {
  ops,
  Tensor,
  setNumThreads,
  getNumThreads,
  ArgumentError,
  ShapeError,
  DeviceError,
  isa,
  setIsa,
  availableIsas,
} from '../lib';
import { OnnxGraphBuilder } from '../lib/onnx/builder';
import { runOnnx } from '../lib/onnx/ort';
import { Generator } from '../lib/random';
import { expectClose, describeCuda } from './helpers';
import { refDeformConv2d, refDeformConv2dBackward, RefDeformArgs } from './reference/deform_conv';

interface Config {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  kh: number;
  kw: number;
  groups?: number;
  offsetGroups?: number;
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  mask?: boolean;
  bias?: boolean;
  offsets?: 'random' | 'integer' | 'border' | 'far' | 'fractional';
}

interface Case {
  cfg: Config;
  input: Tensor;
  offset: Tensor;
  weight: Tensor;
  mask: Tensor | null;
  bias: Tensor | null;
  ref: RefDeformArgs;
  outShape: number[];
}

function outSize(cfg: Config): [number, number] {
  const [sh, sw] = cfg.stride ?? [1, 1],
    [ph, pw] = cfg.padding ?? [0, 0],
    [dh, dw] = cfg.dilation ?? [1, 1];
  return [
    Math.floor((cfg.H + 2 * ph - dh * (cfg.kh - 1) - 1) / sh) + 1,
    Math.floor((cfg.W + 2 * pw - dw * (cfg.kw - 1) - 1) / sw) + 1,
  ];
}

function makeCase(cfg: Config, seed = 1): Case {
  const rng = new Generator(seed);
  const groups = cfg.groups ?? 1,
    G = cfg.offsetGroups ?? 1;
  const [Ho, Wo] = outSize(cfg);
  const K = cfg.kh * cfg.kw;
  const fill = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  const input = fill(cfg.N * cfg.C * cfg.H * cfg.W, () => rng.uniform() * 2 - 1);
  const weight = fill(cfg.O * (cfg.C / groups) * K, () => rng.uniform() * 2 - 1);
  const nOff = cfg.N * 2 * G * K * Ho * Wo;
  const kind = cfg.offsets ?? 'random';
  const offset = fill(nOff, () => {
    switch (kind) {
      case 'integer':
        return rng.int(5) - 2; // lands exactly on pixels
      case 'border': {
        // just inside / just outside the -1 and H borders
        const choices = [-1, -0.999, -1.001, 0.001, 1e-6, -1e-6];
        return choices[rng.int(choices.length)] + (rng.uniform() < 0.5 ? 0 : Math.max(cfg.H, cfg.W));
      }
      case 'far':
        return (rng.uniform() < 0.5 ? -1 : 1) * (50 + rng.uniform() * 1000);
      case 'fractional':
        return rng.int(5) - 2 + 0.2 + 0.6 * rng.uniform(); // away from the lattice
      default:
        return rng.uniform() * 6 - 3;
    }
  });
  const mask = cfg.mask ? fill(cfg.N * G * K * Ho * Wo, () => rng.uniform()) : null;
  const bias = cfg.bias ? fill(cfg.O, () => rng.uniform() * 2 - 1) : null;
  return {
    cfg,
    input: Tensor.from(input, [cfg.N, cfg.C, cfg.H, cfg.W]),
    offset: Tensor.from(offset, [cfg.N, 2 * G * K, Ho, Wo]),
    weight: Tensor.from(weight, [cfg.O, cfg.C / groups, cfg.kh, cfg.kw]),
    mask: mask ? Tensor.from(mask, [cfg.N, G * K, Ho, Wo]) : null,
    bias: bias ? Tensor.from(bias, [cfg.O]) : null,
    ref: {
      input,
      inputShape: [cfg.N, cfg.C, cfg.H, cfg.W],
      offset,
      weight,
      weightShape: [cfg.O, cfg.C / groups, cfg.kh, cfg.kw],
      mask,
      bias,
      stride: cfg.stride,
      padding: cfg.padding,
      dilation: cfg.dilation,
    },
    outShape: [cfg.N, cfg.O, Ho, Wo],
  };
}

function run(c: Case): Tensor {
  return ops.deformConv2d(c.input, c.offset, c.weight, {
    bias: c.bias,
    mask: c.mask,
    stride: c.cfg.stride,
    padding: c.cfg.padding,
    dilation: c.cfg.dilation,
  });
}

async function runOrt(c: Case, opset: number): Promise<Tensor> {
  const { cfg } = c;
  const [ph, pw] = cfg.padding ?? [0, 0];
  const b = new OnnxGraphBuilder({ opset });
  b.input('X', c.input.shape).input('W', c.weight.shape).input('offset', c.offset.shape);
  const inputs = ['X', 'W', 'offset'];
  const feeds: Record<string, Tensor> = { X: c.input, W: c.weight, offset: c.offset };
  if (c.bias) {
    b.input('B', c.bias.shape);
    feeds.B = c.bias;
  }
  inputs.push(c.bias ? 'B' : '');
  if (c.mask) {
    b.input('mask', c.mask.shape);
    feeds.mask = c.mask;
    inputs.push('mask');
  }
  while (inputs[inputs.length - 1] === '') inputs.pop();
  b.node('DeformConv', inputs, ['Y'], {
    kernel_shape: [cfg.kh, cfg.kw],
    strides: cfg.stride ?? [1, 1],
    pads: [ph, pw, ph, pw],
    dilations: cfg.dilation ?? [1, 1],
    group: cfg.groups ?? 1,
    offset_group: cfg.offsetGroups ?? 1,
  });
  b.output('Y');
  return (await runOnnx(b.toBytes(), feeds, { threads: 1 })).Y;
}

const base: Config = { N: 1, C: 4, H: 7, W: 6, O: 3, kh: 3, kw: 3, padding: [1, 1] };
const forwardGrid: Config[] = [
  base,
  { ...base, mask: true, bias: true },
  { ...base, N: 3, mask: true },
  { ...base, C: 6, O: 4, groups: 2, bias: true },
  { ...base, C: 6, O: 6, groups: 3, offsetGroups: 3, mask: true },
  { ...base, C: 4, O: 2, offsetGroups: 2, mask: true, bias: true },
  { ...base, C: 8, O: 4, groups: 2, offsetGroups: 4, mask: true },
  { ...base, C: 4, O: 4, groups: 4, offsetGroups: 2 },
  {
    N: 2,
    C: 3,
    H: 9,
    W: 8,
    O: 5,
    kh: 2,
    kw: 3,
    stride: [2, 1],
    padding: [0, 2],
    dilation: [1, 2],
    mask: true,
    bias: true,
  },
  { N: 1, C: 2, H: 11, W: 10, O: 3, kh: 3, kw: 1, stride: [2, 3], padding: [2, 0], dilation: [2, 1] },
  { N: 2, C: 5, H: 6, W: 6, O: 2, kh: 1, kw: 1, stride: [2, 2], mask: true },
  { ...base, mask: true, bias: true, offsets: 'integer' },
  { ...base, N: 2, mask: true, offsets: 'border' },
  { ...base, W: 19, mask: true, offsets: 'border' },
  { ...base, W: 19, stride: [1, 2], offsets: 'integer' },
  { ...base, mask: true, bias: true, offsets: 'far' },
];

function label(c: Config): string {
  const parts = [`N${c.N} C${c.C} ${c.H}x${c.W} O${c.O} k${c.kh}x${c.kw}`];
  if (c.groups) parts.push(`g${c.groups}`);
  if (c.offsetGroups) parts.push(`og${c.offsetGroups}`);
  if (c.stride) parts.push(`s${c.stride}`);
  if (c.padding) parts.push(`p${c.padding}`);
  if (c.dilation) parts.push(`d${c.dilation}`);
  if (c.mask) parts.push('mask');
  if (c.bias) parts.push('bias');
  if (c.offsets) parts.push(c.offsets);
  return parts.join(' ');
}

describe('deformConv2d forward', () => {
  test.each(forwardGrid.map((c) => [label(c), c] as const))(
    '%s vs ONNX Runtime (opset 19, 22) and float64 reference',
    async (_name, cfg) => {
      const c = makeCase(cfg);
      const out = run(c);
      expect(out.shape).toEqual(c.outShape);
      const ref = refDeformConv2d(c.ref);
      expectClose(out.data, ref.out, 2e-5, 2e-5);
      for (const opset of [19, 22]) {
        const y = await runOrt(c, opset);
        expect(y.shape).toEqual(c.outShape);
        expectClose(out.data, y.data, 2e-5, 2e-5);
      }
    },
  );

  test('zero offsets and mask 1 reproduce a plain convolution', () => {
    const cfg: Config = {
      N: 2,
      C: 6,
      H: 9,
      W: 7,
      O: 4,
      kh: 3,
      kw: 2,
      groups: 2,
      stride: [2, 1],
      padding: [1, 2],
      dilation: [2, 1],
      bias: true,
    };
    const c = makeCase(cfg);
    c.offset.data.fill(0);
    const ones = Tensor.ones([cfg.N, 3 * 2, ...outSize(cfg)]);
    const out = ops.deformConv2d(c.input, c.offset, c.weight, {
      bias: c.bias,
      mask: ones,
      stride: cfg.stride,
      padding: cfg.padding,
      dilation: cfg.dilation,
    });
    // Direct convolution with zero padding, written independently of the deformable reference.
    const [Ho, Wo] = outSize(cfg);
    const expected = new Float64Array(cfg.N * cfg.O * Ho * Wo);
    const Cg = cfg.C / 2,
      Og = cfg.O / 2,
      x = c.input.data,
      w = c.weight.data,
      b = c.bias!.data;
    for (let n = 0; n < cfg.N; n++)
      for (let o = 0; o < cfg.O; o++)
        for (let oy = 0; oy < Ho; oy++)
          for (let ox = 0; ox < Wo; ox++) {
            let s = b[o];
            const grp = Math.floor(o / Og);
            for (let cl = 0; cl < Cg; cl++)
              for (let i = 0; i < cfg.kh; i++)
                for (let j = 0; j < cfg.kw; j++) {
                  const iy = oy * 2 - 1 + i * 2,
                    ix = ox - 2 + j;
                  if (iy < 0 || iy >= cfg.H || ix < 0 || ix >= cfg.W) continue;
                  s +=
                    w[((o * Cg + cl) * cfg.kh + i) * cfg.kw + j] *
                    x[((n * cfg.C + grp * Cg + cl) * cfg.H + iy) * cfg.W + ix];
                }
            expected[((n * cfg.O + o) * Ho + oy) * Wo + ox] = s;
          }
    expectClose(out.data, expected, 1e-5, 1e-5);
  });

  test('a larger map crossing several sampling-plan tiles matches the reference', () => {
    // 8 offset groups x 9 taps x 20-byte plans: the 3 MB plan budget holds 2184 of 4620 pixels.
    const c = makeCase({
      N: 1,
      C: 8,
      H: 70,
      W: 66,
      O: 5,
      kh: 3,
      kw: 3,
      padding: [1, 1],
      offsetGroups: 8,
      mask: true,
      bias: true,
    });
    expectClose(run(c).data, refDeformConv2d(c.ref).out, 5e-5, 5e-5);
  });
});

function gradsOf(c: Case, gradOut: Tensor): Record<string, Tensor | null> {
  for (const t of [c.input, c.offset, c.weight, c.mask, c.bias]) if (t) t.requireGrad();
  const out = run(c);
  out.backward(gradOut);
  return {
    input: c.input.grad,
    offset: c.offset.grad,
    weight: c.weight.grad,
    mask: c.mask?.grad ?? null,
    bias: c.bias?.grad ?? null,
  };
}

function randomGradOut(c: Case, seed: number): Tensor {
  const rng = new Generator(seed);
  return Tensor.from(
    Float32Array.from({ length: c.outShape.reduce((a, b) => a * b) }, () => rng.uniform() * 2 - 1),
    c.outShape,
  );
}

/** Every wanted gradient of the native op against the float64 reference. */
function expectGradsMatchReference(c: Case, gradOut: Tensor, tol: { weight?: number; offset?: number } = {}): void {
  const got = gradsOf(c, gradOut);
  const ref = refDeformConv2dBackward(c.ref, gradOut.data);
  expectClose(got.input!.data, ref.input, 1e-4, 1e-4);
  expectClose(got.offset!.data, ref.offset, tol.offset ?? 1e-4, 1e-4);
  expectClose(got.weight!.data, ref.weight, tol.weight ?? 2e-4, 1e-4);
  if (c.mask) expectClose(got.mask!.data, ref.mask!, 1e-4, 1e-4);
  if (c.bias) expectClose(got.bias!.data, ref.bias, 1e-4, 1e-4);
}

/** sin(i * step) over the output's shape: a gradient of both signs, the same in every run. */
function sineGradOut(c: Case, step = 1): Tensor {
  return Tensor.from(
    Float32Array.from({ length: c.outShape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * step)),
    c.outShape,
  );
}

/** The output and every gradient of the case (cfg, seed) computed at `threads` threads, copied out. */
function resultsAt(threads: number, cfg: Config, seed: number, gradOutOf: (c: Case) => Tensor): Float32Array[] {
  setNumThreads(threads);
  const c = makeCase(cfg, seed);
  const out = Float32Array.from(run(c).data);
  const grads = Object.values(gradsOf(c, gradOutOf(c))).filter((t): t is Tensor => t !== null);
  return [out, ...grads.map((t) => Float32Array.from(t.data))];
}

/** Every array of `actual` equals the one of `expected` at its index, bit for bit. */
function expectSameBits(actual: Float32Array[], expected: Float32Array[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((arr, i) => expect(Buffer.from(arr.buffer).equals(Buffer.from(expected[i].buffer))).toBe(true));
}

const gradGrid: Config[] = [
  { ...base, mask: true, bias: true },
  { ...base, N: 2, C: 6, O: 4, groups: 2, offsetGroups: 3, mask: true, bias: true, offsets: 'fractional' },
  {
    N: 2,
    C: 4,
    H: 9,
    W: 8,
    O: 3,
    kh: 2,
    kw: 3,
    stride: [2, 1],
    padding: [0, 2],
    dilation: [1, 2],
    offsetGroups: 2,
    mask: true,
  },
  { N: 1, C: 3, H: 6, W: 5, O: 2, kh: 3, kw: 3, padding: [1, 1], offsets: 'border', mask: true, bias: true },
  // Two backward tiles (plan budget: 2184 pixels of 2304).
  {
    N: 1,
    C: 16,
    H: 48,
    W: 48,
    O: 4,
    kh: 3,
    kw: 3,
    padding: [1, 1],
    groups: 2,
    offsetGroups: 8,
    mask: true,
    bias: true,
  },
];

describe('deformConv2d gradients', () => {
  test.each(gradGrid.map((c) => [label(c), c] as const))(
    '%s: every gradient matches the float64 reference',
    (_name, cfg) => {
      const c = makeCase(cfg, 7);
      expectGradsMatchReference(c, randomGradOut(c, 3));
    },
  );

  test('the float64 reference gradients agree with central finite differences', () => {
    const cfg: Config = {
      N: 1,
      C: 4,
      H: 5,
      W: 6,
      O: 2,
      kh: 2,
      kw: 3,
      groups: 2,
      offsetGroups: 2,
      stride: [1, 2],
      padding: [1, 1],
      dilation: [2, 1],
      mask: true,
      bias: true,
      offsets: 'fractional',
    };
    const c = makeCase(cfg, 11);
    const rng = new Generator(5);
    const n = c.outShape.reduce((a, b) => a * b);
    const gradOut = Float64Array.from({ length: n }, () => rng.uniform() * 2 - 1);
    const loss = (args: RefDeformArgs) => refDeformConv2d(args).out.reduce((s, v, i) => s + v * gradOut[i], 0);
    const grads = refDeformConv2dBackward(c.ref, gradOut);
    const eps = 1e-6;
    for (const name of ['input', 'offset', 'mask', 'weight', 'bias'] as const) {
      const values = Float64Array.from(c.ref[name] as ArrayLike<number>);
      const analytic = grads[name]!;
      for (let k = 0; k < values.length; k += Math.max(1, Math.floor(values.length / 23))) {
        const plus = Float64Array.from(values);
        plus[k] += eps;
        const minus = Float64Array.from(values);
        minus[k] -= eps;
        const fd = (loss({ ...c.ref, [name]: plus }) - loss({ ...c.ref, [name]: minus })) / (2 * eps);
        expect(Math.abs(fd - analytic[k])).toBeLessThan(1e-6 + 1e-6 * Math.abs(fd));
      }
    }
  });

  test('native gradients agree with finite differences of the native forward', () => {
    const cfg: Config = {
      N: 1,
      C: 2,
      H: 5,
      W: 5,
      O: 2,
      kh: 3,
      kw: 3,
      padding: [1, 1],
      mask: true,
      bias: true,
      offsets: 'fractional',
    };
    const c = makeCase(cfg, 13);
    const rng = new Generator(9);
    const gradOut = Tensor.from(
      Float32Array.from({ length: c.outShape.reduce((a, b) => a * b) }, () => rng.uniform() * 2 - 1),
      c.outShape,
    );
    const g = gradsOf(c, gradOut);
    const loss = () => {
      const out = run(c).data;
      let s = 0;
      for (let i = 0; i < out.length; i++) s += out[i] * gradOut.data[i];
      return s;
    };
    const eps = 1e-2; // offsets sit >= 0.2 from the lattice, so +-eps stays on one bilinear cell
    for (const [name, t] of [
      ['input', c.input],
      ['offset', c.offset],
      ['mask', c.mask],
      ['weight', c.weight],
      ['bias', c.bias],
    ] as const) {
      const d = t!.data;
      for (let k = 0; k < d.length; k += Math.max(1, Math.floor(d.length / 17))) {
        const keepValue = d[k];
        d[k] = keepValue + eps;
        const lp = loss();
        d[k] = keepValue - eps;
        const lm = loss();
        d[k] = keepValue;
        const fd = (lp - lm) / (2 * eps);
        const analytic = g[name]!.data[k];
        if (Math.abs(fd - analytic) > 2e-3 + 2e-3 * Math.abs(fd))
          throw new Error(`${name}[${k}]: finite difference ${fd} vs gradient ${analytic}`);
      }
    }
  });
});

describe('deformConv2d instruction-set paths', () => {
  const saved = isa();
  afterAll(() => setIsa(saved.active));
  // Widths 13 and 37 leave partial vectors and partial GEMM panels on every path.
  const cfg: Config = {
    N: 2,
    C: 6,
    H: 11,
    W: 37,
    O: 4,
    kh: 3,
    kw: 3,
    padding: [1, 1],
    stride: [1, 3],
    groups: 2,
    offsetGroups: 3,
    mask: true,
    bias: true,
  };
  const paths = availableIsas();
  test.each(paths)('%s: forward and every gradient match the float64 reference', (path) => {
    setIsa(path);
    const c = makeCase(cfg, 23);
    expectClose(run(c).data, refDeformConv2d(c.ref).out, 5e-5, 5e-5);
    const gradOut = Tensor.from(
      Float32Array.from({ length: c.outShape.reduce((a, b) => a * b) }, (_, i) => Math.cos(i)),
      c.outShape,
    );
    const g = gradsOf(c, gradOut);
    const ref = refDeformConv2dBackward(c.ref, gradOut.data);
    expectClose(g.input!.data, ref.input, 1e-4, 1e-4);
    expectClose(g.offset!.data, ref.offset, 1e-4, 1e-4);
    expectClose(g.mask!.data, ref.mask!, 1e-4, 1e-4);
    expectClose(g.weight!.data, ref.weight, 2e-4, 1e-4);
  });
});

describe('deformConv2d determinism', () => {
  const saved = getNumThreads();
  afterAll(() => setNumThreads(saved));

  test('forward and every gradient are bit-identical at 1 and 2 threads and from run to run', () => {
    const cfg: Config = {
      N: 2,
      C: 16,
      H: 23,
      W: 21,
      O: 12,
      kh: 3,
      kw: 3,
      padding: [1, 1],
      groups: 2,
      offsetGroups: 4,
      mask: true,
      bias: true,
    };
    const [first, ...again] = [1, 2, 2].map((threads) => resultsAt(threads, cfg, 17, (c) => sineGradOut(c, 0.37)));
    for (const results of again) expectSameBits(results, first);
  });
});

describe('deformConv2d channels-last sampling edges', () => {
  const saved = getNumThreads();
  const savedIsa = isa();
  afterAll(() => {
    setNumThreads(saved);
    setIsa(savedIsa.active);
  });
  // The kernels sample runs of channels of one (tap, offset group) in vectors of 8 and order
  // the GEMM depth (tap, channel): channel counts that are not a multiple of 8, offset-group
  // and group boundaries inside a run, and GEMM depth blocks (256 rows) that split a tap.
  const edgeGrid: Config[] = [
    { N: 2, C: 3, H: 7, W: 9, O: 4, kh: 3, kw: 3, padding: [1, 1], offsetGroups: 3, mask: true, bias: true },
    { N: 1, C: 17, H: 6, W: 11, O: 5, kh: 3, kw: 3, padding: [1, 1], mask: true },
    // 40 * 9 = 360 depth rows: the second block starts in the middle of tap 6.
    { N: 2, C: 40, H: 6, W: 7, O: 6, kh: 3, kw: 3, padding: [1, 1], offsetGroups: 2, mask: true, bias: true },
    // Groups of 15 channels, offset groups of 10: offset-group boundaries inside a group's run.
    {
      N: 1,
      C: 30,
      H: 5,
      W: 9,
      O: 6,
      kh: 3,
      kw: 3,
      padding: [1, 1],
      stride: [2, 1],
      groups: 2,
      offsetGroups: 3,
      mask: true,
    },
    // Offset groups of 7 channels spanning two groups of 21 (odd channels per offset group).
    {
      N: 2,
      C: 42,
      H: 5,
      W: 6,
      O: 4,
      kh: 3,
      kw: 3,
      padding: [1, 1],
      groups: 2,
      offsetGroups: 6,
      mask: true,
      bias: true,
    },
    // 300 channels in one group, 1x1 taps: a depth block ends mid-run.
    { N: 1, C: 300, H: 3, W: 4, O: 3, kh: 1, kw: 1, offsetGroups: 3 },
  ];
  const paths = availableIsas().filter((p) => p !== 'avx512'); // the AVX-512 CPU runs the AVX2 sampling kernels
  for (const path of paths) {
    test.each(edgeGrid.map((c) => [label(c), c] as const))(
      `${path}: %s forward and every gradient match the float64 reference`,
      (_name, cfg) => {
        setIsa(path);
        const c = makeCase(cfg, 31);
        expectClose(run(c).data, refDeformConv2d(c.ref).out, 5e-5, 5e-5);
        expectGradsMatchReference(c, randomGradOut(c, 9), { weight: 4e-4, offset: 2e-4 });
        setIsa(savedIsa.active);
      },
    );
  }

  test('odd channel counts are bit-identical at 1 and 2 threads (batch 1: channel-split scatter)', () => {
    const cfg: Config = {
      N: 1,
      C: 43,
      H: 9,
      W: 10,
      O: 7,
      kh: 3,
      kw: 3,
      padding: [1, 1],
      groups: 1,
      offsetGroups: 1,
      mask: true,
      bias: true,
    };
    const [one, two] = [1, 2].map((threads) => resultsAt(threads, cfg, 71, (c) => sineGradOut(c)));
    expectSameBits(two, one);
  });
});

describe('deformConv2d batch modes', () => {
  const saved = getNumThreads();
  afterAll(() => setNumThreads(saved));

  test('batch 1 (kernels threaded inside the image) is bit-identical at 1 and 2 threads', () => {
    const cfg: Config = {
      N: 1,
      C: 12,
      H: 19,
      W: 17,
      O: 8,
      kh: 3,
      kw: 3,
      padding: [1, 1],
      offsetGroups: 3,
      mask: true,
      bias: true,
    };
    const [one, two] = [1, 2].map((threads) => resultsAt(threads, cfg, 51, (c) => sineGradOut(c)));
    expectSameBits(two, one);
  });

  test('the weight gradient of a batch is the per-image gradients summed in image order, bit for bit', () => {
    // 17 x 16 = 272 output pixels: large enough that every image is its own block.
    const cfg: Config = { N: 3, C: 4, H: 17, W: 16, O: 6, kh: 3, kw: 3, padding: [1, 1], groups: 2, mask: true };
    const c = makeCase(cfg, 61);
    const gradOut = Tensor.from(
      Float32Array.from({ length: c.outShape.reduce((a, b) => a * b) }, (_, i) => Math.cos(i)),
      c.outShape,
    );
    const batch = gradsOf(c, gradOut).weight!.data;
    const per = c.outShape.slice(1).reduce((a, b) => a * b);
    const sum = new Float32Array(batch.length);
    for (let n = 0; n < cfg.N; n++) {
      const slice = (t: Tensor, size: number) =>
        Tensor.from(t.data.subarray(n * size, (n + 1) * size), [1, ...t.shape.slice(1)]);
      const w = c.weight.detach().requireGrad();
      const x = slice(c.input, c.input.numel / cfg.N),
        off = slice(c.offset, c.offset.numel / cfg.N),
        m = slice(c.mask!, c.mask!.numel / cfg.N);
      ops.deformConv2d(x, off, w, { mask: m, padding: 1 }).backward(slice(gradOut, per));
      const g = w.grad!.data;
      for (let i = 0; i < sum.length; i++) sum[i] = n === 0 ? g[i] : Math.fround(sum[i] + g[i]);
    }
    expect(Buffer.from(sum.buffer).equals(Buffer.from(Float32Array.from(batch).buffer))).toBe(true);
  });
});

describe('deformConv2d blocks of small images', () => {
  const saved = getNumThreads();
  afterAll(() => setNumThreads(saved));

  // Maps under 256 output pixels are processed several images at a time (up to 512 pixels a
  // block, at least 4 blocks of equal size): 41 images of 5 x 6 make blocks of 11, 11, 11 and 8.
  test('forward and every gradient match the reference and are bit-identical at 1 and 2 threads', () => {
    const cfg: Config = {
      N: 41,
      C: 6,
      H: 5,
      W: 6,
      O: 4,
      kh: 3,
      kw: 3,
      padding: [1, 1],
      groups: 2,
      offsetGroups: 3,
      mask: true,
      bias: true,
    };
    setNumThreads(1);
    const c = makeCase(cfg, 81); // the reference at one thread, then the bits at 1 and 2
    expectClose(run(c).data, refDeformConv2d(c.ref).out, 5e-5, 5e-5);
    expectGradsMatchReference(c, randomGradOut(c, 4), { weight: 4e-4 });
    const [one, two] = [1, 2].map((threads) => resultsAt(threads, cfg, 81, (k) => randomGradOut(k, 4)));
    expectSameBits(two, one);
  });
});

describe('deformConv2d non-finite and huge offsets', () => {
  // Width 21: output rows long enough for the vectorised sampling-plan builder, plus its tail.
  test.each([5, 21])(
    'NaN, infinite and huge offsets sample 0, with zero offset and mask gradients, and never crash (width %i)',
    (W) => {
      const cfg: Config = { N: 1, C: 3, H: 6, W, O: 2, kh: 3, kw: 3, padding: [1, 1], mask: true, bias: true };
      const c = makeCase(cfg, 31);
      const d = c.offset.data;
      const specials = [NaN, Infinity, -Infinity, 3e38, -3e38, 1e20, 2 ** 31, -(2 ** 31) - 5];
      const poisoned = new Set<number>();
      for (let k = 0; k < d.length; k += 3) {
        d[k] = specials[(k / 3) % specials.length];
        poisoned.add(k);
      }
      c.ref.offset = Float32Array.from(d); // Tensor.from copied the data: keep the reference in step
      const out = run(c);
      expect(out.data.every(Number.isFinite)).toBe(true);
      // The reference treats these points as outside as well (its comparisons fail on NaN).
      expectClose(out.data, refDeformConv2d(c.ref).out, 1e-5, 1e-5);
      const gradOut = Tensor.ones(c.outShape);
      const g = gradsOf(c, gradOut);
      for (const t of [g.input!, g.offset!, g.mask!, g.weight!, g.bias!])
        expect(t.data.every(Number.isFinite)).toBe(true);
      // A poisoned coordinate zeroes the tap: both its offset gradients and its mask gradient are 0.
      const P = c.outShape[2] * c.outShape[3];
      for (const k of poisoned) {
        const ch = Math.floor(k / P),
          p = k % P,
          tap = Math.floor(ch / 2);
        expect(g.offset!.data[k]).toBe(0);
        expect(g.offset!.data[(ch % 2 === 0 ? ch + 1 : ch - 1) * P + p]).toBe(0);
        expect(g.mask!.data[tap * P + p]).toBe(0);
      }
      const ref = refDeformConv2dBackward(c.ref, gradOut.data);
      expectClose(g.input!.data, ref.input, 1e-4, 1e-4);
      expectClose(g.offset!.data, ref.offset, 1e-4, 1e-4);
    },
  );
});

describe('deformConv2d bad input', () => {
  const x = Tensor.zeros([2, 4, 8, 8]);
  const w = Tensor.zeros([6, 4, 3, 3]);
  const off = Tensor.zeros([2, 18, 6, 6]);

  test('offset channels that are not 2*offsetGroups*kh*kw', () => {
    expect(() => ops.deformConv2d(x, Tensor.zeros([2, 17, 6, 6]), w)).toThrow(ShapeError);
    expect(() => ops.deformConv2d(x, Tensor.zeros([2, 17, 6, 6]), w)).toThrow(
      /offset to have 2\*offsetGroups\*kh\*kw channels .*\[2, 17, 6, 6\]/,
    );
  });
  test('offset spatial size different from the output size', () => {
    expect(() => ops.deformConv2d(x, Tensor.zeros([2, 18, 8, 8]), w)).toThrow(
      /expected offset of shape \[2, 18, 6, 6\].*received \[2, 18, 8, 8\]/,
    );
    expect(() => ops.deformConv2d(x, Tensor.zeros([1, 18, 6, 6]), w)).toThrow(ShapeError);
  });
  test('mask with wrong channels or size', () => {
    expect(() => ops.deformConv2d(x, off, w, { mask: Tensor.zeros([2, 18, 6, 6]) })).toThrow(
      /expected mask of shape \[2, 9, 6, 6\]/,
    );
    expect(() => ops.deformConv2d(x, off, w, { mask: Tensor.zeros([2, 9, 5, 6]) })).toThrow(ShapeError);
    expect(() => ops.deformConv2d(x, off, w, { mask: Tensor.zeros([2, 9, 6]) })).toThrow(/mask to be 4-D/);
  });
  test('channels not divisible by groups or offset groups', () => {
    expect(() => ops.deformConv2d(x, off, Tensor.zeros([6, 3, 3, 3]))).toThrow(
      /input channels \(4\) to be divisible by weight.shape\[1\]/,
    );
    expect(() => ops.deformConv2d(x, off, Tensor.zeros([3, 2, 3, 3]))).toThrow(
      /weight.shape\[0\] \(3 output channels\) to be divisible by groups = 2/,
    );
    expect(() => ops.deformConv2d(x, Tensor.zeros([2, 54, 6, 6]), w)).toThrow(/divisible by offsetGroups = 3/);
  });
  test('bias of the wrong shape, bad options, non-tensors', () => {
    expect(() => ops.deformConv2d(x, off, w, { bias: Tensor.zeros([5]) })).toThrow(/expected bias of shape \[6\]/);
    expect(() => ops.deformConv2d(x, off, w, { stride: 0 })).toThrow(ArgumentError);
    expect(() => ops.deformConv2d(x, off, w, { padding: [1, -1] })).toThrow(/padding/);
    expect(() => ops.deformConv2d(x, off, w, { dilation: 1.5 })).toThrow(ArgumentError);
    expect(() => ops.deformConv2d(x, off, 3 as unknown as Tensor)).toThrow(
      /expected weight to be a Tensor but received 3 of type number/,
    );
    expect(() => ops.deformConv2d(Tensor.zeros([4, 8, 8]), off, w)).toThrow(/input to be 4-D/);
    expect(() => ops.deformConv2d(Tensor.zeros([1, 4, 2, 2]), off, w)).toThrow(/smaller than the dilated kernel/);
  });
  test('tensors on different devices', () => {
    // A fake CUDA-resident tensor is enough to exercise the check without a GPU.
    const fake = Object.create(Tensor.prototype, {
      device: { value: 'cuda' },
      shape: { value: [2, 18, 6, 6] },
    }) as Tensor;
    expect(() => ops.deformConv2d(x, fake, w)).toThrow(DeviceError);
    expect(() => ops.deformConv2d(x, fake, w)).toThrow(/expected offset to be on cpu like input but it is on cuda/);
  });
  test('the native layer re-checks shapes itself', () => {
    const { native } = jest.requireActual('../lib/native') as typeof import('../lib/native');
    const out = Tensor.zeros([2, 6, 6, 6]);
    expect(() =>
      native().deformConv2d(x, Tensor.zeros([2, 18, 5, 6]), null, w, null, out, {
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
      }),
    ).toThrow(/offset of shape \[2, 18, 6, 6\]/);
    expect(() =>
      native().deformConv2d(x, off, null, w, null, Tensor.zeros([2, 6, 6, 5]), {
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
      }),
    ).toThrow(/output/);
  });
  test('one contract: the op and its kernels refuse a bad shape with the same class and words', () => {
    // Both run native/ops/deform_conv2d.cc: the op through deformConv2dGeometry, the kernels'
    // binding on the tensors themselves.
    const { native } = jest.requireActual('../lib/native') as typeof import('../lib/native');
    const out = Tensor.zeros([2, 6, 6, 6]);
    const cases: [Tensor, Tensor, Tensor | null, Tensor | null][] = [
      [Tensor.zeros([2, 17, 6, 6]), w, null, null], // offset channels
      [Tensor.zeros([2, 18, 5, 6]), w, null, null], // offset size
      [Tensor.zeros([2, 54, 6, 6]), w, null, null], // offset groups
      [off, Tensor.zeros([6, 3, 3, 3]), null, null], // groups
      [off, w, Tensor.zeros([2, 18, 6, 6]), null], // mask channels
      [off, w, null, Tensor.zeros([5])], // bias
      [Tensor.zeros([2, 18, 6]), w, null, null], // offset not 4-D
    ];
    for (const [offset, weight, mask, bias] of cases) {
      const fromOp = thrown(() => ops.deformConv2d(x, offset, weight, { mask, bias }));
      const fromKernels = thrown(() =>
        native().deformConv2d(x, offset, mask, weight, bias, out, {
          stride: [1, 1],
          padding: [0, 0],
          dilation: [1, 1],
        }),
      );
      expect(fromOp).toBeInstanceOf(ShapeError);
      expect(fromKernels).toBeInstanceOf(ShapeError);
      expect(fromKernels.message).toBe(fromOp.message);
    }
  });
});

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

const gpu = describeCuda('deform_conv.test');
gpu('deformConv2d on CUDA', () => {
  test('forward and gradients match the CPU (atomic and deterministic input gradient)', () => {
    const cfg: Config = {
      N: 2,
      C: 6,
      H: 9,
      W: 8,
      O: 4,
      kh: 3,
      kw: 3,
      padding: [1, 1],
      groups: 2,
      offsetGroups: 3,
      mask: true,
      bias: true,
    };
    const c = makeCase(cfg, 41);
    const gradOut = Tensor.ones(c.outShape);
    const cpuOut = run(c);
    const cpuGrads = gradsOf(c, gradOut);
    for (const deterministic of [true, false]) {
      const [xi, oi, wi, mi, bi] = [c.input, c.offset, c.weight, c.mask!, c.bias!].map((t) =>
        t.detach().to('cuda').requireGrad(),
      );
      const out = ops.deformConv2d(xi, oi, wi, { mask: mi, bias: bi, padding: 1, deterministic });
      expectClose(out.to('cpu').data, cpuOut.data, 1e-4, 1e-4);
      out.backward(gradOut.to('cuda'));
      expectClose(xi.grad!.to('cpu').data, cpuGrads.input!.data, 1e-4, 1e-4);
      expectClose(oi.grad!.to('cpu').data, cpuGrads.offset!.data, 1e-4, 1e-4);
      expectClose(mi.grad!.to('cpu').data, cpuGrads.mask!.data, 1e-4, 1e-4);
      expectClose(wi.grad!.to('cpu').data, cpuGrads.weight!.data, 1e-3, 1e-4);
      expectClose(bi.grad!.to('cpu').data, cpuGrads.bias!.data, 1e-3, 1e-4);
    }
  });
});
