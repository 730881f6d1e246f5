/**
 * Inference fusion: ops.conv2dFused equals conv2d -> + residual -> ReLU on every native path
 * (per-image GEMMs, the small-image batched GEMM, depthwise, kn2row, 1x1, groups),
 * ops.deformConv2dFused equals deformConv2d -> + residual -> ReLU (one image per tile, images
 * blocked per tile, groups, offset groups, mask, packed or not), and models
 * in eval mode under noGrad (batch norm folded into the conv weights, add and ReLU fused)
 * equal the same models run layer by layer, also after the weights change (optimizer steps,
 * state dicts, direct writes announced with weightsChanged) — the folded cache never serves
 * stale weights.
 */
import { isGradEnabled, noGrad } from '../lib/autograd';
import * as models from '../lib/models';
import { BatchNorm2d, Conv2d, Module, ReLU, Sequential } from '../lib/nn';
import { convBnAct, foldedWeights } from '../lib/nn/fold';
import * as ops from '../lib/ops';
import * as optim from '../lib/optim';
import { manualSeed } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { weightsChanged } from '../lib';
import { getNumThreads, isa, setNumThreads } from '../lib/system';
import { maxRelDiff } from './helpers';
import { convGeom, refConv2d } from './reference/conv';

interface Case {
  name: string;
  input: number[];
  weight: number[];
  stride?: number;
  padding?: number;
  groups?: number;
}

const CASES: Case[] = [
  { name: 'per-image GEMMs (20x20 output)', input: [2, 6, 20, 20], weight: [16, 6, 3, 3], padding: 1 },
  { name: 'small images, one batched GEMM', input: [3, 8, 6, 6], weight: [24, 8, 3, 3], padding: 1 },
  { name: 'stride 2', input: [2, 8, 9, 9], weight: [12, 8, 3, 3], stride: 2, padding: 1 },
  { name: 'depthwise', input: [2, 8, 10, 10], weight: [8, 1, 3, 3], padding: 1, groups: 8 },
  { name: 'kn2row (few output channels)', input: [2, 16, 12, 12], weight: [4, 16, 3, 3], padding: 1 },
  { name: '1x1', input: [2, 16, 17, 17], weight: [32, 16, 1, 1] },
  { name: 'groups 2', input: [2, 8, 16, 16], weight: [8, 4, 3, 3], padding: 1, groups: 2 },
  // One depth block (K = 27): without a residual the bias goes in with the ReLU, after the GEMM.
  { name: 'shallow GEMM (a 3-channel stem)', input: [1, 3, 20, 20], weight: [32, 3, 3, 3], padding: 1 },
];

function unfused(x: Tensor, w: Tensor, b: Tensor | null, c: Case, residual: Tensor | null, relu: boolean): Tensor {
  let y = ops.conv2d(x, w, { bias: b, stride: c.stride, padding: c.padding, groups: c.groups });
  if (residual) y = ops.add(y, residual);
  return relu ? ops.relu(y) : y;
}

describe('conv2dFused', () => {
  for (const c of CASES) {
    test(`${c.name}: equals conv2d, add and relu`, () => {
      manualSeed(7);
      const x = Tensor.randn(c.input);
      const w = Tensor.randn(c.weight, { std: 0.3 });
      const b = Tensor.randn([c.weight[0]]);
      const reference = ops.conv2d(x, w, { bias: b, stride: c.stride, padding: c.padding, groups: c.groups });
      const residual = Tensor.randn(reference.shape);
      for (const bias of [b, null])
        for (const res of [residual, null])
          for (const relu of [true, false]) {
            const fused = noGrad(() =>
              ops.conv2dFused(x, w, {
                bias,
                stride: c.stride,
                padding: c.padding,
                groups: c.groups,
                residual: res,
                relu,
              }),
            );
            const expected = unfused(x, w, bias, c, res, relu);
            expect(fused.shape).toEqual(expected.shape);
            expect(maxRelDiff(fused.data, expected.data)).toBeLessThan(1e-6);
          }
    });
  }

  test('a NaN input stays NaN through the fused epilogue on every path, as through ops.relu', () => {
    for (const c of CASES) {
      manualSeed(7);
      const values = Tensor.randn(c.input).toArray();
      values[Math.floor(values.length / 3)] = NaN;
      const x = Tensor.from(values, c.input);
      const w = Tensor.randn(c.weight, { std: 0.3 });
      const b = Tensor.randn([c.weight[0]]);
      const fused = noGrad(() =>
        ops.conv2dFused(x, w, { bias: b, stride: c.stride, padding: c.padding, groups: c.groups, relu: true }),
      ).toArray();
      const expected = unfused(x, w, b, c, null, true).toArray();
      const nans = expected.filter((v) => Number.isNaN(v)).length;
      expect([c.name, nans > 0]).toEqual([c.name, true]);
      expect([c.name, fused.map((v) => Number.isNaN(v))]).toEqual([c.name, expected.map((v) => Number.isNaN(v))]);
      const finite = (a: number[]): number[] => a.map((v) => (Number.isNaN(v) ? 0 : v));
      expect(maxRelDiff(finite(fused), finite(expected))).toBeLessThan(1e-6);
    }
  });

  test('with gradients wanted it records the graph (the composition), so nothing is lost', () => {
    const x = Tensor.randn([1, 2, 5, 5]).requireGrad();
    const w = Tensor.randn([3, 2, 3, 3]).requireGrad();
    expect(isGradEnabled()).toBe(true);
    const y = ops.conv2dFused(x, w, { padding: 1, relu: true, residual: Tensor.randn([1, 3, 5, 5]) });
    ops.sum(y).backward();
    expect(x.grad).not.toBeNull();
    expect(w.grad).not.toBeNull();
  });

  test('bad residuals and flags are typed errors naming the argument', () => {
    const x = Tensor.randn([1, 2, 5, 5]);
    const w = Tensor.randn([3, 2, 3, 3]);
    expect(() => ops.conv2dFused(x, w, { residual: Tensor.randn([1, 3, 5, 5]) })).toThrow(
      /residual of the output's shape \[1, 3, 3, 3\]/,
    );
    expect(() => ops.conv2dFused(x, w, { relu: 'yes' as unknown as boolean })).toThrow(/relu to be a boolean/);
    expect(() => ops.conv2dFused(x, w, { residul: null } as never)).toThrow(/residul/);
  });
});

/** The native window options of a stride-1, unpadded, undilated call. */
const UNPADDED = {
  stride: [1, 1] as [number, number],
  padding: [0, 0] as [number, number],
  dilation: [1, 1] as [number, number],
};

interface DeformCase {
  name: string;
  input: number[];
  outChannels: number;
  groups?: number;
  offsetGroups?: number;
  mask?: boolean;
  stride?: number;
}

const DEFORM_CASES: DeformCase[] = [
  // One image per tile: the output is pre-filled with bias + residual before the GEMM.
  { name: 'one image (9x11 map)', input: [1, 8, 9, 11], outChannels: 12 },
  { name: 'two large images, stride 2', input: [2, 8, 24, 24], outChannels: 16, stride: 2 },
  // 19600 output pixels: more than one tile of sampling plans (3 MB, native/cpu/deform_conv2d.cc).
  { name: 'one image in two tiles', input: [1, 4, 140, 140], outChannels: 4 },
  // Small maps run several images per tile: the epilogue runs in the copy back.
  { name: 'small maps, images blocked per tile', input: [5, 8, 4, 4], outChannels: 16 },
  {
    name: 'groups 2, offset groups 2, mask',
    input: [3, 8, 6, 5],
    outChannels: 12,
    groups: 2,
    offsetGroups: 2,
    mask: true,
  },
];

describe('deformConv2dFused', () => {
  for (const c of DEFORM_CASES) {
    test(`${c.name}: equals deformConv2d, add and relu (packed and not)`, () => {
      manualSeed(13);
      const [N, C, H, W] = c.input;
      const groups = c.groups ?? 1;
      const og = c.offsetGroups ?? 1;
      const stride = c.stride ?? 1;
      const OH = Math.floor((H + 2 - 3) / stride) + 1;
      const OW = Math.floor((W + 2 - 3) / stride) + 1;
      const x = Tensor.randn(c.input);
      const w = Tensor.randn([c.outChannels, C / groups, 3, 3], { std: 0.3 });
      const b = Tensor.randn([c.outChannels]);
      const offset = Tensor.randn([N, 2 * og * 9, OH, OW], { std: 1.5 });
      const mask = c.mask ? ops.sigmoid(Tensor.randn([N, og * 9, OH, OW])) : null;
      const residual = Tensor.randn([N, c.outChannels, OH, OW]);
      const packed = ops.packDeformConv2dWeight(w, groups);
      for (const bias of [b, null])
        for (const res of [residual, null])
          for (const relu of [true, false])
            for (const pack of [packed, null]) {
              const options = { bias, mask, stride, padding: 1 };
              const fused = noGrad(() =>
                ops.deformConv2dFused(x, offset, w, { ...options, residual: res, relu, packed: pack }),
              );
              let expected = ops.deformConv2d(x, offset, w, options);
              if (res) expected = ops.add(expected, res);
              if (relu) expected = ops.relu(expected);
              expect(fused.shape).toEqual(expected.shape);
              expect(maxRelDiff(fused.data, expected.data)).toBeLessThan(1e-6);
              if (relu) expect(Math.min(...fused.data)).toBe(0);
            }
    });
  }

  test('with gradients wanted it records the graph (the composition), so nothing is lost', () => {
    const x = Tensor.randn([1, 2, 5, 5]).requireGrad();
    const w = Tensor.randn([3, 2, 3, 3]).requireGrad();
    const offset = Tensor.randn([1, 18, 5, 5]).requireGrad();
    const residual = Tensor.randn([1, 3, 5, 5]).requireGrad();
    const y = ops.deformConv2dFused(x, offset, w, { padding: 1, relu: true, residual });
    ops.sum(y).backward();
    for (const t of [x, w, offset, residual]) expect(t.grad).not.toBeNull();
  });

  test('bad residuals and flags are typed errors naming the argument, in TypeScript and in native code', () => {
    const x = Tensor.randn([1, 2, 5, 5]);
    const w = Tensor.randn([3, 2, 3, 3]);
    const offset = Tensor.randn([1, 18, 3, 3]);
    expect(() => ops.deformConv2dFused(x, offset, w, { residual: Tensor.randn([1, 3, 5, 5]) })).toThrow(
      /deformConv2dFused: expected residual of the output's shape \[1, 3, 3, 3\]/,
    );
    expect(() => ops.deformConv2dFused(x, offset, w, { relu: 1 as unknown as boolean })).toThrow(
      /deformConv2dFused: expected relu to be a boolean/,
    );
    expect(() => ops.deformConv2dFused(x, offset, w, { residul: null } as never)).toThrow(/residul/);
    expect(() => ops.deformConv2d(x, offset, w, { relu: true } as never)).toThrow(/relu/);
    const { native } = jest.requireActual('../lib/native') as typeof import('../lib/native');
    const out = Tensor.empty([1, 3, 3, 3]);
    expect(() =>
      native().deformConv2d(x, offset, null, w, null, out, UNPADDED, null, Tensor.randn([1, 3, 2, 2])),
    ).toThrow(/deformConv2d: expected residual of shape \[1, 3, 3, 3\] but received \[1, 3, 2, 2\]/);
    expect(() => native().deformConv2d(x, offset, null, w, null, out, UNPADDED, null, out)).toThrow(
      /residual and out to be different tensors/,
    );
    expect(() => native().deformConv2d(x, offset, null, w, null, out, UNPADDED, null, null, 'yes' as never)).toThrow(
      /expected relu to be a boolean/,
    );
  });
});

/** Runs `model` on x in eval mode, folded (noGrad) and layer by layer (grad mode, nothing folded). */
function bothWays(model: models.ResNet | models.UNet, x: Tensor): { folded: Tensor; plain: Tensor } {
  model.eval();
  const folded = noGrad(() => model.forward(x) as Tensor);
  const plain = model.forward(x) as Tensor; // grad enabled: canFold is false, every layer runs
  return { folded, plain };
}

/** Random running statistics and affine parameters, so folding is not the identity. */
function randomiseBatchNorms(model: Module): void {
  noGrad(() => {
    for (const m of model.modules()) {
      if (!(m instanceof BatchNorm2d)) continue;
      const C = m.numFeatures;
      ops.copy_(m.runningMean as Tensor, Tensor.randn([C], { std: 0.2 }));
      ops.copy_(m.runningVar as Tensor, ops.add(ops.abs(Tensor.randn([C])), 0.5));
      ops.copy_(m.weight as Tensor, ops.add(Tensor.randn([C], { std: 0.2 }), 1));
      ops.copy_(m.bias as Tensor, Tensor.randn([C], { std: 0.2 }));
    }
  });
}

describe('folded inference in models', () => {
  for (const conv of ['standard', 'deform', 'modulated'] as const) {
    test(`ResNet-18 (${conv}): folded eval equals the layer-by-layer eval, before and after training steps`, () => {
      manualSeed(3);
      const net = models.resnet18({
        numClasses: 5,
        inChannels: 3,
        stem: 'imagenet',
        width: 8,
        conv: conv === 'standard' ? 'standard' : { kind: conv, stages: [3, 4] },
      });
      randomiseBatchNorms(net);
      const x = Tensor.randn([2, 3, 32, 32]);
      const before = bothWays(net, x);
      expect(maxRelDiff(before.folded.data, before.plain.data)).toBeLessThan(1e-4);
      // Train: the weights and running statistics move; the next eval must not reuse folded weights.
      const opt = new optim.SGD(net.parameters(), { lr: 0.05 });
      net.train();
      for (let i = 0; i < 2; i++) {
        opt.zeroGrad();
        ops.crossEntropy(net.forward(Tensor.randn([4, 3, 32, 32])), Tensor.from([0, 1, 2, 3])).backward();
        opt.step();
      }
      const after = bothWays(net, x);
      expect(maxRelDiff(after.folded.data, after.plain.data)).toBeLessThan(1e-4);
      expect(maxRelDiff(after.folded.data, before.folded.data)).toBeGreaterThan(1e-3);
    });
  }

  test('ResNet-18 at width 32 with the CIFAR stem: folded eval (Winograd in the early stages on AVX-512) equals the layer-by-layer eval', () => {
    manualSeed(6);
    const net = models.resnet18({ numClasses: 7, stem: 'cifar', width: 32 });
    randomiseBatchNorms(net);
    const { folded, plain } = bothWays(net, Tensor.randn([2, 3, 32, 32]));
    expect(maxRelDiff(folded.data, plain.data)).toBeLessThan(1e-4);
    const block = net.layer1.get(0);
    const packed = foldedWeights(block.conv1 as Conv2d, block.bn1).packed;
    expect(packed?.winograd).toBe(isa().detected === 'avx512');
  });

  test('U-Net: folded eval equals the layer-by-layer eval', () => {
    manualSeed(4);
    const net = models.unet({ inChannels: 1, numClasses: 3, baseChannels: 8, depth: 2 });
    randomiseBatchNorms(net);
    const { folded, plain } = bothWays(net, Tensor.randn([2, 1, 16, 16]));
    expect(maxRelDiff(folded.data, plain.data)).toBeLessThan(1e-4);
  });

  test('Sequential: Conv2d -> BatchNorm2d (-> ReLU) runs folded at inference, equal to the layers run one by one', () => {
    manualSeed(8);
    for (const groups of [1, 16]) {
      const conv = new Conv2d(16, 16, { kernelSize: 3, padding: 1, groups });
      const bn = new BatchNorm2d(16);
      const seq = new Sequential(conv, bn, new ReLU(), new Conv2d(16, 8, { kernelSize: 1 }), new BatchNorm2d(8));
      randomiseBatchNorms(seq);
      seq.eval();
      const x = Tensor.randn([2, 16, 9, 9]);
      const bnForward = jest.spyOn(bn, 'forward');
      const folded = noGrad(() => seq.forward(x));
      expect(bnForward).not.toHaveBeenCalled(); // folded into the conv
      const plain = seq.forward(x); // gradients wanted: every layer runs
      expect(bnForward).toHaveBeenCalledTimes(1);
      expect(maxRelDiff(folded.data, plain.data)).toBeLessThan(1e-5);
      expect(Math.min(...plain.data)).toBeLessThan(0); // the last batch norm has no ReLU after it
      bnForward.mockRestore();
    }
  });

  test('Sequential: Conv2d -> ReLU runs as one conv at inference, equal to the two layers; a bad input names the conv', () => {
    manualSeed(10);
    const conv = new Conv2d(6, 12, { kernelSize: 3, padding: 1 });
    const relu = new ReLU();
    const seq = new Sequential(conv, relu, new Conv2d(12, 4, { kernelSize: 1 }));
    seq.eval();
    const x = Tensor.randn([2, 6, 8, 8]);
    const reluForward = jest.spyOn(relu, 'forward');
    const fused = noGrad(() => seq.forward(x));
    expect(reluForward).not.toHaveBeenCalled();
    const plain = seq.forward(x);
    expect(reluForward).toHaveBeenCalledTimes(1);
    expect(maxRelDiff(fused.data, plain.data)).toBeLessThan(1e-6);
    reluForward.mockRestore();
    expect(() => noGrad(() => seq.forward(Tensor.randn([2, 5, 8, 8])))).toThrow(/^0 \(Conv2d\): .*6/);
  });

  test('Sequential: a layer whose class has a forward of its own, and training mode, run every layer as written', () => {
    manualSeed(9);
    class ScaledBatchNorm extends BatchNorm2d {
      override forward(x: Tensor): Tensor {
        return ops.mul(super.forward(x), 2);
      }
    }
    const conv = new Conv2d(4, 4, { kernelSize: 3, padding: 1 });
    const bn = new ScaledBatchNorm(4);
    const seq = new Sequential(conv, bn, new ReLU());
    randomiseBatchNorms(seq);
    seq.eval();
    const x = Tensor.randn([1, 4, 6, 6]);
    const expected = ops.relu(bn.forward(conv.forward(x))); // its forward doubles: folding would lose that
    const got = noGrad(() => seq.forward(x));
    expect(maxRelDiff(got.data, expected.data)).toBeLessThan(1e-6);
    const plainBn = new BatchNorm2d(4);
    const trained = new Sequential(conv, plainBn, new ReLU());
    trained.train();
    const bnForward = jest.spyOn(plainBn, 'forward');
    noGrad(() => trained.forward(x)); // training mode: batch statistics, no folding
    expect(bnForward).toHaveBeenCalledTimes(1);
    bnForward.mockRestore();
  });

  test('the folded cache follows loadStateDict, in-place ops and announced direct writes', () => {
    manualSeed(5);
    const conv = new Conv2d(3, 4, { kernelSize: 3, padding: 1 });
    const bn = new BatchNorm2d(4);
    conv.eval();
    bn.eval();
    const x = Tensor.randn([1, 3, 6, 6]);
    const check = (): void => {
      const folded = noGrad(() => convBnAct(conv, bn, x, { relu: true }));
      const plain = ops.relu(bn.forward(conv.forward(x)));
      expect(maxRelDiff(folded.data, plain.data)).toBeLessThan(1e-5);
    };
    check();
    const first = foldedWeights(conv, bn).weight;
    expect(foldedWeights(conv, bn).weight).toBe(first); // cached while nothing changes
    conv.loadStateDict({ weight: Tensor.randn([4, 3, 3, 3]), bias: Tensor.randn([4]) });
    check();
    noGrad(() => ops.fill_(bn.runningVar as Tensor, 4));
    check();
    (bn.runningMean as Tensor).data.fill(0.7);
    weightsChanged();
    check();
  });
});

describe('packed conv weights', () => {
  test('a packed weight gives the unpacked result on the per-image and batched paths, and keeps its own copy', () => {
    manualSeed(9);
    for (const [input, weight] of [
      // 40 outputs: above kn2row's and the thin direct path's limits, so the GEMM paths (the
      // ones that use packing) run.
      [
        [1, 8, 20, 20],
        [40, 8, 3, 3],
      ],
      [
        [4, 8, 6, 6],
        [40, 8, 3, 3],
      ],
    ] as const) {
      const x = Tensor.randn([...input]);
      const w = Tensor.randn([...weight], { std: 0.3 });
      const packed = ops.packConv2dWeight(w);
      const expected = ops.conv2d(x, w, { padding: 1 });
      const got = noGrad(() => ops.conv2dFused(x, w, { padding: 1, packed }));
      expect(maxRelDiff(got.data, expected.data)).toBeLessThan(1e-6);
      // The GEMM paths read the handle's copy, not w (callers pass the weight they packed).
      const before = Float32Array.from(got.data);
      w.data.fill(0);
      const again = noGrad(() => ops.conv2dFused(x, w, { padding: 1, packed }));
      expect(Array.from(again.data)).toEqual(Array.from(before));
    }
  });

  test('one image on two threads (each thread its share of the pixels, pre-filled, multiplied, ReLU): the float64 result, the same bits as one thread', () => {
    manualSeed(13);
    const threads = getNumThreads();
    // 3 input channels (the stem: an im2col GEMM), 1x1 (the plain matrix), three groups (three
    // GEMMs one after another, each split), stride 2 (17 x 18 outputs): every image has at least
    // the 256 pixels and the million multiply-adds from which the threads split it, none a
    // multiple of the 16-pixel unit; and one too small to split.
    for (const [input, weight, groups, stride] of [
      [[1, 3, 40, 40], [32, 3, 3, 3], 1, 1],
      [[1, 64, 20, 20], [64, 64, 1, 1], 1, 1],
      [[1, 48, 18, 18], [96, 16, 3, 3], 3, 1],
      [[1, 16, 33, 35], [64, 16, 3, 3], 1, 2],
      [[1, 16, 20, 20], [40, 16, 1, 1], 1, 1],
    ] as const) {
      const x = Tensor.randn([...input]);
      const w = Tensor.randn([...weight], { std: 0.3 });
      const bias = Tensor.randn([weight[0]]);
      const padding = (weight[2] - 1) / 2;
      const g = convGeom(x.shape, w.shape, [stride, stride], [padding, padding], [1, 1], groups);
      const residual = Tensor.randn([1, weight[0], g.OH, g.OW]);
      const want = refConv2d(g, x.data, w.data, bias.data).map((v, i) => Math.max(0, v + residual.data[i]));
      const packed = ops.packConv2dWeight(w, groups);
      const run = (t: number, withPacked: boolean): Float32Array => {
        setNumThreads(t);
        const options = { padding, stride, groups, bias, residual, relu: true, packed: withPacked ? packed : null };
        return noGrad(() => ops.conv2dFused(x, w, options)).data;
      };
      const one = run(1, true);
      expect(maxRelDiff(one, want)).toBeLessThan(1e-5);
      for (const withPacked of [true, false]) expect(Array.from(run(2, withPacked))).toEqual(Array.from(one));
    }
    setNumThreads(threads);
  });

  test('offset-predictor weights (18 and 27 outputs) keep a kn2row copy: the same bits as per call, their own copy', () => {
    manualSeed(12);
    const threads = getNumThreads();
    for (const [input, outputs, kernel] of [
      [[1, 64, 4, 4], 18, 3],
      [[3, 40, 9, 7], 27, 3],
      [[2, 16, 8, 8], 18, 5],
    ] as const) {
      const x = Tensor.randn([...input]);
      const w = Tensor.randn([outputs, input[1], kernel, kernel], { std: 0.3 });
      const bias = Tensor.randn([outputs]);
      const padding = (kernel - 1) / 2;
      const packed = ops.packConv2dWeight(w);
      // The kn2row copy next to the direct one: two halves of the outputs, each taps x its
      // outputs rows of input-channel columns (in panels of 8 rows).
      const direct = 4 * Math.ceil(outputs / 8) * 8 * input[1] * kernel * kernel;
      const half = Math.floor(outputs / 2);
      const kn2row = [half, outputs - half].reduce(
        (sum, rows) => sum + 4 * Math.ceil((kernel * kernel * rows) / 8) * 8 * input[1],
        0,
      );
      if (isa().active === 'avx512') expect(packed.bytes).toBe(direct + kn2row);
      const g = convGeom(x.shape, w.shape, [1, 1], [padding, padding], [1, 1], 1);
      const want = refConv2d(g, x.data, w.data, bias.data);
      const expected = noGrad(() => ops.conv2dFused(x, w, { padding, bias }));
      expect(maxRelDiff(expected.data, want)).toBeLessThan(1e-5);
      for (const t of [1, 2]) {
        setNumThreads(t);
        const got = noGrad(() => ops.conv2dFused(x, w, { padding, bias, packed }));
        expect(Array.from(got.data)).toEqual(Array.from(expected.data));
      }
      w.data.fill(0);
      const again = noGrad(() => ops.conv2dFused(x, w, { padding, bias, packed }));
      expect(Array.from(again.data)).toEqual(Array.from(expected.data));
    }
    setNumThreads(threads);
  });

  test('a packed deformable weight gives the same bits as packing per call (groups, mask), and keeps its own copy', () => {
    manualSeed(10);
    for (const [groups, withMask] of [
      [1, false],
      [2, true],
    ] as const) {
      const x = Tensor.randn([2, 8, 7, 9]);
      const w = Tensor.randn([12, 8 / groups, 3, 3], { std: 0.3 });
      const offset = Tensor.randn([2, 18, 7, 9], { std: 1.5 });
      const mask = withMask ? ops.sigmoid(Tensor.randn([2, 9, 7, 9])) : null;
      const bias = Tensor.randn([12]);
      const packed = ops.packDeformConv2dWeight(w, groups);
      const expected = ops.deformConv2d(x, offset, w, { padding: 1, mask, bias });
      const got = ops.deformConv2d(x, offset, w, { padding: 1, mask, bias, packed });
      expect(Array.from(got.data)).toEqual(Array.from(expected.data));
      w.data.fill(0);
      const again = ops.deformConv2d(x, offset, w, { padding: 1, mask, bias, packed });
      expect(Array.from(again.data)).toEqual(Array.from(expected.data));
    }
  });

  test('packed weights are refused by the other op and for other shapes, in TypeScript and in native code', () => {
    const x = Tensor.randn([1, 4, 6, 6]);
    const w = Tensor.randn([6, 4, 3, 3]);
    const offset = Tensor.zeros([1, 18, 4, 4]);
    const forConv = ops.packConv2dWeight(w);
    const forDeform = ops.packDeformConv2dWeight(w);
    expect(() => ops.deformConv2d(x, offset, w, { packed: forConv })).toThrow(
      /expected packed to be a PackedConv2dWeight from packDeformConv2dWeight but received one from packConv2dWeight/,
    );
    expect(() => ops.conv2dFused(x, w, { packed: forDeform })).toThrow(
      /expected packed to be a PackedConv2dWeight from packConv2dWeight but received one from packDeformConv2dWeight/,
    );
    expect(() =>
      ops.deformConv2d(x, offset, w, { packed: ops.packDeformConv2dWeight(Tensor.randn([6, 2, 3, 3]), 2) }),
    ).toThrow(/expected packed to be packDeformConv2dWeight of a weight \[6, 4, 3, 3\] with groups 1/);
    const { native } = jest.requireActual('../lib/native') as typeof import('../lib/native');
    const out = Tensor.empty([1, 6, 4, 4]);
    expect(() => native().deformConv2d(x, offset, null, w, null, out, UNPADDED, forConv.handle)).toThrow(
      /packed for another weight shape or groups \(or by conv2dPackWeights\)/,
    );
    expect(() => native().deformConv2d(x, offset, null, w, null, out, UNPADDED, {})).toThrow(
      /handle from deformConv2dPackWeights/,
    );
  });

  test('a packed weight of another shape or groups is refused, in TypeScript and in native code', () => {
    const x = Tensor.randn([1, 4, 6, 6]);
    const w = Tensor.randn([6, 4, 3, 3]);
    const other = ops.packConv2dWeight(Tensor.randn([6, 2, 3, 3]), 2);
    expect(() => ops.conv2dFused(x, w, { packed: other })).toThrow(
      /expected packed to be packConv2dWeight of a weight \[6, 4, 3, 3\] with groups 1/,
    );
    expect(() => ops.packConv2dWeight(Tensor.randn([6, 4, 3, 3]), 4)).toThrow(
      /groups \(4\) to divide the 6 output channels/,
    );
    // Native code checks the handle too (a forged or mismatched one must not be read).
    const { native } = jest.requireActual('../lib/native') as typeof import('../lib/native');
    const out = Tensor.empty([1, 6, 4, 4]);
    expect(() =>
      native().conv2d(
        x,
        w,
        null,
        out,
        { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 },
        null,
        false,
        {},
      ),
    ).toThrow(/handle from conv2dPackWeights/);
    expect(() =>
      native().conv2d(
        x,
        w,
        null,
        out,
        { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 },
        null,
        false,
        other.handle,
      ),
    ).toThrow(/packed for another weight shape/);
  });
});
