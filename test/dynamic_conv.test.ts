import { ops, setNumThreads, getNumThreads, Tensor, ShapeError, ArgumentError, manualSeed } from '../lib';
import { native } from '../lib/native';
import { expectCudaMatchesCpu } from './device_compare';
import { conv2d } from '../lib/ops/conv';
import { DynGeom, dynamicConvBackward, dynamicConvForward, mixKernels, outSize } from './reference/dynamic_conv';
import { expectClose, describeCuda, forEachIsa } from './helpers';

interface Case {
  name: string;
  B: number;
  C: number;
  H: number;
  W: number;
  K: number;
  O: number;
  k: [number, number];
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
}

function geom(c: Case): DynGeom {
  return {
    B: c.B,
    C: c.C,
    H: c.H,
    W: c.W,
    K: c.K,
    O: c.O,
    kh: c.k[0],
    kw: c.k[1],
    stride: [c.stride ?? 1, c.stride ?? 1],
    padding: [c.padding ?? 0, c.padding ?? 0],
    dilation: [c.dilation ?? 1, c.dilation ?? 1],
    groups: c.groups ?? 1,
  };
}

function makeInputs(c: Case) {
  const g = geom(c);
  const input = Tensor.randn([c.B, c.C, c.H, c.W], { requiresGrad: true });
  const experts = Tensor.randn([c.K, c.O, c.C / g.groups, c.k[0], c.k[1]], { requiresGrad: true });
  // Attention in [0, 1): what a softmax or sigmoid gives.
  const attention = Tensor.rand([c.B, c.K], { requiresGrad: true });
  const expertBias = c.bias ? Tensor.randn([c.K, c.O], { requiresGrad: true }) : null;
  return { g, input, experts, attention, expertBias };
}

function opts(c: Case, expertBias: Tensor | null) {
  return { expertBias, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
}

const cases: Case[] = [
  { name: '3x3 pad 1, bias', B: 3, C: 4, H: 6, W: 5, K: 3, O: 6, k: [3, 3], padding: 1, bias: true },
  { name: '1x1, batch 1', B: 1, C: 5, H: 4, W: 7, K: 4, O: 3, k: [1, 1], bias: true },
  {
    name: 'groups 2, stride 2 on odd input, dilation 2',
    B: 2,
    C: 4,
    H: 9,
    W: 7,
    K: 2,
    O: 6,
    k: [3, 3],
    stride: 2,
    padding: 2,
    dilation: 2,
    groups: 2,
  },
  {
    name: 'depthwise (groups = channels), 3x2 kernel',
    B: 4,
    C: 3,
    H: 5,
    W: 6,
    K: 3,
    O: 3,
    k: [3, 2],
    padding: 1,
    groups: 3,
    bias: true,
  },
  {
    name: 'batch 9 (threads take samples), stride 2, 1x1',
    B: 9,
    C: 6,
    H: 7,
    W: 7,
    K: 4,
    O: 5,
    k: [1, 1],
    stride: 2,
    bias: true,
  },
  { name: 'batch 8, 3x3, groups 2, K = 1', B: 8, C: 4, H: 8, W: 8, K: 1, O: 4, k: [3, 3], padding: 1, groups: 2 },
  // 135 kernel columns: the reduction of the per-sample kernel gradients runs over two column
  // blocks (68 and 67 columns: vector tails, the last block shorter) and groups of samples (the
  // last one of 1).
  {
    name: 'batch 9, 3x3, kernels spanning several reduction blocks',
    B: 9,
    C: 15,
    H: 6,
    W: 5,
    K: 3,
    O: 24,
    k: [3, 3],
    padding: 1,
    bias: true,
  },
  // DynamicNet's stride-2 stage entry on a 4x4 output: the input gradient's packed expert
  // slices cover two blocks of input channels (64 * 3 * 3 > 512 rows).
  {
    name: 'batch 5, stride 2 to 4x4, 64 channels (two input-gradient channel blocks)',
    B: 5,
    C: 64,
    H: 8,
    W: 8,
    K: 3,
    O: 8,
    k: [3, 3],
    stride: 2,
    padding: 1,
    bias: true,
  },
];

describe('dynamicConv2d against the per-sample float64 reference', () => {
  beforeEach(() => manualSeed(11));

  for (const c of cases) {
    test(`${c.name}: forward and every gradient, under every instruction set`, () => {
      forEachIsa(() => {
        const { g, input, experts, attention, expertBias } = makeInputs(c);
        const out = ops.dynamicConv2d(input, experts, attention, opts(c, expertBias));
        const [OH, OW] = outSize(g);
        expect(out.shape).toEqual([c.B, c.O, OH, OW]);
        const t = { input: input.data, experts: experts.data, attention: attention.data, expertBias: expertBias?.data };
        const terms = (c.C / g.groups) * c.k[0] * c.k[1] * c.K;
        const atol = 2e-5 * Math.sqrt(terms) * 4;
        expectClose(out.data, dynamicConvForward(g, t), atol, 1e-4);

        const gradOut = Tensor.randn(out.shape);
        out.backward(gradOut);
        const want = dynamicConvBackward(g, t, gradOut.data);
        expectClose(input.grad!.data, want.input, atol, 1e-4);
        const pixels = OH * OW;
        expectClose(experts.grad!.data, want.experts, 4e-5 * Math.sqrt(pixels * c.B) * 4, 1e-4);
        expectClose(attention.grad!.data, want.attention, 4e-5 * Math.sqrt(pixels * terms * c.O) * 4, 1e-4);
        if (expertBias) expectClose(expertBias.grad!.data, want.expertBias!, 4e-5 * Math.sqrt(pixels * c.B) * 4, 1e-4);
      });
    });
  }

  /**
   * A kernel as large as the input gives one output pixel: out[b, o] = sum over the channels of
   * o's group of W_b x_b + bias_b, a matrix-vector product. 1.7M floats per kernel make the
   * backward cut the kernel gradient into many column blocks (each sized for L2), and the batch
   * of 5 reduces as groups of 4 samples and 1 whose expert gradients accumulate.
   */
  function largeKernelClosedForm(C: number, groups: number, stride: number): void {
    const [B, K, O, S] = [5, 2, 128, 8];
    const Cg = C / groups,
      Og = O / groups,
      D = Cg * S * S;
    const x = Tensor.randn([B, C, S, S], { requiresGrad: true });
    const e = Tensor.randn([K, O, Cg, S, S], { requiresGrad: true });
    const a = Tensor.rand([B, K], { requiresGrad: true });
    const eb = Tensor.randn([K, O], { requiresGrad: true });
    const out = ops.dynamicConv2d(x, e, a, { expertBias: eb, groups, stride });
    expect(out.shape).toEqual([B, O, 1, 1]);
    const go = Tensor.randn(out.shape);
    out.backward(go);
    const [X, E, A, EB, G] = [x.data, e.data, a.data, eb.data, go.data];
    const want = {
      out: new Float64Array(B * O),
      gx: new Float64Array(B * C * S * S),
      ge: new Float64Array(K * O * D),
      ga: new Float64Array(B * K),
      gb: new Float64Array(K * O),
    };
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < K; k++) {
        const ak = A[b * K + k];
        for (let o = 0; o < O; o++) {
          const g = G[b * O + o];
          const xAt = (b * C + Math.floor(o / Og) * Cg) * S * S; // the group's channels of sample b
          let dot = 0;
          for (let d = 0; d < D; d++) {
            const ev = E[(k * O + o) * D + d],
              xv = X[xAt + d];
            dot += ev * xv;
            want.gx[xAt + d] += ak * ev * g;
            want.ge[(k * O + o) * D + d] += ak * g * xv;
          }
          want.out[b * O + o] += ak * (dot + EB[k * O + o]);
          want.ga[b * K + k] += g * (dot + EB[k * O + o]);
          want.gb[k * O + o] += ak * g;
        }
      }
    }
    const tol = 1e-4 * Math.sqrt(D) * 4;
    expectClose(out.data, want.out, tol, 1e-4);
    expectClose(x.grad!.data, want.gx, 1e-4, 1e-4);
    expectClose(e.grad!.data, want.ge, 1e-4, 1e-4);
    expectClose(a.grad!.data, want.ga, tol * Math.sqrt(O), 1e-4);
    expectClose(eb.grad!.data, want.gb, 1e-4, 1e-4);
  }

  test('large kernels (many column blocks, samples reduced in groups of 4 and 1): closed form', () => {
    largeKernelClosedForm(208, 1, 1);
  });

  test('large kernels with groups 2 and stride 2 (the packed input-gradient path): closed form', () => {
    largeKernelClosedForm(416, 2, 2);
  });

  test('empty batch', () => {
    const out = ops.dynamicConv2d(Tensor.zeros([0, 2, 4, 4]), Tensor.randn([3, 4, 2, 3, 3]), Tensor.zeros([0, 3]), {
      padding: 1,
    });
    expect(out.shape).toEqual([0, 4, 4, 4]);
  });

  test('only the gradients that are needed are computed (input only, attention only)', () => {
    const c = cases[0];
    const { g, input, experts, attention, expertBias } = makeInputs(c);
    experts.requiresGrad = false;
    attention.requiresGrad = false;
    expertBias!.requiresGrad = false;
    const out = ops.dynamicConv2d(input, experts, attention, opts(c, expertBias));
    const gradOut = Tensor.randn(out.shape);
    out.backward(gradOut);
    const t = { input: input.data, experts: experts.data, attention: attention.data, expertBias: expertBias!.data };
    const want = dynamicConvBackward(g, t, gradOut.data);
    expectClose(input.grad!.data, want.input, 1e-3, 1e-4);
    expect(experts.grad).toBeNull();

    const a2 = Tensor.from(attention.data, attention.shape, { requiresGrad: true });
    const out2 = ops.dynamicConv2d(input.detach(), experts, a2, opts(c, expertBias));
    out2.backward(gradOut);
    expectClose(a2.grad!.data, want.attention, 1e-3, 1e-4);
  });

  test('K = 1 with attention 1 equals conv2d with that expert (and its bias)', () => {
    const input = Tensor.randn([2, 6, 9, 8]);
    const weight = Tensor.randn([4, 3, 3, 3]);
    const bias = Tensor.randn([4]);
    const o = { stride: 2, padding: 1, groups: 2 };
    const dyn = ops.dynamicConv2d(input, weight.view([1, 4, 3, 3, 3]), Tensor.ones([2, 1]), {
      ...o,
      expertBias: bias.view([1, 4]),
    });
    expectClose(dyn.data, conv2d(input, weight, { ...o, bias }).data, 1e-5, 1e-5);
  });

  test('mixing is linear: attention (a, 1-a) over two experts equals conv2d with the blended kernel', () => {
    const input = Tensor.randn([1, 3, 6, 6]);
    const e = Tensor.randn([2, 5, 3, 3, 3]);
    const a = 0.3;
    const dyn = ops.dynamicConv2d(input, e, Tensor.from([a, 1 - a], [1, 2]), { padding: 1 });
    const blended = Tensor.from(mixKernels(e.data, [a, 1 - a], 1, 2), [5, 3, 3, 3]);
    expectClose(dyn.data, conv2d(input, blended, { padding: 1 }).data, 1e-5, 1e-5);
  });
});

describe('dynamicConv2d finite differences', () => {
  // The output is linear in each single input, expert, attention or bias entry, so central
  // differences are exact up to float32 rounding of the loss.
  test('a sample of entries of every argument', () => {
    manualSeed(5);
    const c: Case = {
      name: 'fd',
      B: 2,
      C: 4,
      H: 5,
      W: 5,
      K: 3,
      O: 4,
      k: [3, 3],
      stride: 2,
      padding: 1,
      groups: 2,
      bias: true,
    };
    const { input, experts, attention, expertBias } = makeInputs(c);
    const R = Tensor.randn([2, 4, 3, 3]);
    const loss = () => {
      const out = ops.dynamicConv2d(
        input.detach(),
        experts.detach(),
        attention.detach(),
        opts(c, expertBias!.detach()),
      );
      let s = 0;
      for (let i = 0; i < out.numel; i++) s += out.data[i] * R.data[i];
      return s;
    };
    ops.dynamicConv2d(input, experts, attention, opts(c, expertBias)).backward(R);
    for (const t of [input, experts, attention, expertBias!]) {
      for (let n = 0; n < 6; n++) {
        const i = Math.floor((n * 7919) % t.numel);
        const v = t.data[i];
        const eps = 0.25;
        t.data[i] = v + eps;
        const up = loss();
        t.data[i] = v - eps;
        const down = loss();
        t.data[i] = v;
        const fd = (up - down) / (2 * eps);
        expect(Math.abs(fd - t.grad!.data[i])).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
      }
    }
  });
});

describe('dynamicConv2d determinism', () => {
  const threads = getNumThreads();
  afterAll(() => setNumThreads(threads));

  test('bit-identical forward and gradients at 1 and 2 threads (batch 1, 2, 3, 7, 8 and 9)', () => {
    for (const c of [
      { name: 'b1', B: 1, C: 8, H: 12, W: 12, K: 4, O: 8, k: [3, 3], padding: 1, bias: true },
      { name: 'b3', B: 3, C: 8, H: 9, W: 9, K: 2, O: 8, k: [3, 3], stride: 2, groups: 2, bias: true },
      { name: 'b8', B: 8, C: 8, H: 10, W: 10, K: 4, O: 12, k: [3, 3], padding: 1, bias: true },
      { name: 'b9 wide kernels', B: 9, C: 16, H: 6, W: 5, K: 3, O: 24, k: [3, 3], padding: 1, bias: true },
      // Per-sample 32x32 maps, two groups of 32 channels: each group's kernel gradient is a conv
      // weight gradient of 256 Winograd tiles (where a conv's own would run by Winograd); the
      // per-sample blocks must not, whatever the thread count.
      { name: 'b2 32x32 maps', B: 2, C: 64, H: 32, W: 32, K: 2, O: 64, k: [3, 3], padding: 1, groups: 2, bias: true },
      {
        name: 'b7 stride 2 to 4x4',
        B: 7,
        C: 64,
        H: 8,
        W: 8,
        K: 4,
        O: 16,
        k: [3, 3],
        stride: 2,
        padding: 1,
        bias: true,
      },
    ] as Case[]) {
      const runs: number[][][] = [];
      for (const n of [1, 2]) {
        setNumThreads(n);
        manualSeed(3);
        const { input, experts, attention, expertBias } = makeInputs(c);
        const out = ops.dynamicConv2d(input, experts, attention, opts(c, expertBias));
        out.backward(Tensor.randn(out.shape));
        runs.push([out, input.grad!, experts.grad!, attention.grad!, expertBias!.grad!].map((t) => Array.from(t.data)));
      }
      for (let i = 0; i < runs[0].length; i++) expect(runs[1][i]).toEqual(runs[0][i]);
    }
  });
});

describe('dynamicConv2d bad input', () => {
  const x = Tensor.zeros([2, 4, 5, 5]);
  const e = Tensor.zeros([3, 6, 4, 3, 3]);
  const a = Tensor.zeros([2, 3]);

  test('attention not (B, K)', () => {
    expect(() => ops.dynamicConv2d(x, e, Tensor.zeros([6]))).toThrow(ShapeError);
    expect(() => ops.dynamicConv2d(x, e, Tensor.zeros([6]))).toThrow(
      /attention to be a 2-D tensor \[B, K\] but received shape \[6\]/,
    );
    expect(() => ops.dynamicConv2d(x, e, Tensor.zeros([3, 3]))).toThrow(
      /expected attention of shape \[2, 3\] .* but received \[3, 3\]/,
    );
  });

  test('K mismatch between experts and attention', () => {
    expect(() => ops.dynamicConv2d(x, e, Tensor.zeros([2, 4]))).toThrow(
      /expected attention of shape \[2, 3\] .*experts of \[3, 6, 4, 3, 3\].* but received \[2, 4\]/,
    );
  });

  test('expertBias shape', () => {
    expect(() => ops.dynamicConv2d(x, e, a, { expertBias: Tensor.zeros([6]) })).toThrow(
      /expertBias to be a 2-D tensor/,
    );
    expect(() => ops.dynamicConv2d(x, e, a, { expertBias: Tensor.zeros([3, 5]) })).toThrow(
      /expected expertBias of shape \[3, 6\] .* but received \[3, 5\]/,
    );
  });

  test('groups not dividing channels, channel mismatch', () => {
    expect(() => ops.dynamicConv2d(x, e, a, { groups: 3 })).toThrow(
      /groups \(3\) to divide the input channels but received 4/,
    );
    expect(() => ops.dynamicConv2d(x, Tensor.zeros([3, 6, 2, 3, 3]), a)).toThrow(
      /expected input to have 2 channels .* but received 4 channels/,
    );
    expect(() => ops.dynamicConv2d(x, Tensor.zeros([3, 5, 2, 3, 3]), a, { groups: 2 })).toThrow(
      /divide the output channels but received 5/,
    );
  });

  test('wrong ranks, non-tensors, bad options, kernel larger than input', () => {
    expect(() => ops.dynamicConv2d(x, Tensor.zeros([6, 4, 3, 3]), a)).toThrow(/experts to be a 5-D tensor/);
    expect(() => ops.dynamicConv2d(Tensor.zeros([4, 5, 5]), e, a)).toThrow(ShapeError);
    expect(() => ops.dynamicConv2d(x, e, [1, 2] as unknown as Tensor)).toThrow(ArgumentError);
    expect(() => ops.dynamicConv2d(x, e, a, { stride: 0 })).toThrow(/stride/);
    expect(() => ops.dynamicConv2d(x, e, a, { padding: -1 })).toThrow(/padding/);
    expect(() => ops.dynamicConv2d(Tensor.zeros([2, 4, 2, 2]), e, a)).toThrow(/larger than the padded input/);
  });

  test('the native layer re-checks shapes (no out-of-bounds access when called directly)', () => {
    const out = Tensor.zeros([2, 6, 3, 3]);
    expect(() =>
      native().dynamicConv2d(x, e, Tensor.zeros([2, 2]), null, out, {
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
      }),
    ).toThrow(ShapeError);
    expect(() =>
      native().dynamicConv2d(x, e, a, null, Tensor.zeros([2, 6, 4, 4]), {
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
      }),
    ).toThrow(ShapeError);
    expect(() =>
      native().dynamicConv2d(x, e, a, Tensor.zeros([3, 5]), out, {
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
      }),
    ).toThrow(ShapeError);
    expect(() =>
      native().dynamicConv2d(x, e, a, null, out, { stride: [0, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }),
    ).toThrow(/stride/);
    expect(() =>
      native().dynamicConv2d(x, e, a, null, out, { stride: [1, 1], padding: [-1, 0], dilation: [1, 1], groups: 1 }),
    ).toThrow(/padding/);
    expect(() =>
      native().dynamicConv2d(x, e, a, null, out, { stride: [1, 1], padding: [0, 0], dilation: [0, 1], groups: 1 }),
    ).toThrow(/dilation/);
    expect(() =>
      native().dynamicConv2dBackward(out, x, e, a, null, null, Tensor.zeros([3, 6, 4, 3, 2]), null, null, {
        stride: [1, 1],
        padding: [0, 0],
        dilation: [1, 1],
        groups: 1,
      }),
    ).toThrow(ShapeError);
  });
});

const gpu = describeCuda('dynamic_conv.test');
gpu('dynamicConv2d on CUDA matches the CPU', () => {
  test('forward and every gradient', () => {
    manualSeed(31);
    for (const c of cases) {
      const { input, experts, attention, expertBias } = makeInputs({ ...c, bias: true });
      expectCudaMatchesCpu(
        (x, e, a, b) => ops.dynamicConv2d(x, e, a, opts(c, b)),
        [input, experts, attention, expertBias!],
        [true, true, true, true],
        1e-3,
      );
    }
  });
});
