/**
 * Conv2d and Linear in eval mode under noGrad run on their weights packed once
 * (lib/nn/inference_weights): the result equals a naive float64 convolution / product on every
 * native path the packed handle feeds (kn2row offset predictors, stride 2, Winograd-sized
 * layers, groups, 1x1; linear layers of 1 to 40 rows), and the cached handle never serves stale
 * weights (optimizer steps, in-place ops, loaded state dicts, a replaced weight tensor).
 * Training mode and gradients take the ordinary path.
 */
import { noGrad } from '../lib/autograd';
import { weightsChanged } from '../lib';
import { Conv2d, Linear, Parameter } from '../lib/nn';
import { packedOwnLinearWeight, packedOwnWeight } from '../lib/nn/inference_weights';
import * as ops from '../lib/ops';
import * as optim from '../lib/optim';
import { manualSeed } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { forEachIsa, maxRelDiff } from './helpers';
import { convGeom, refConv2d } from './reference/conv';

interface Case {
  name: string;
  input: number[];
  out: number;
  kernel: number;
  stride?: number;
  padding?: number;
  groups?: number;
}

const CASES: Case[] = [
  { name: 'offset predictor, 27 outputs (kn2row)', input: [1, 32, 6, 6], out: 27, kernel: 3, padding: 1 },
  { name: 'offset predictor, stride 2', input: [1, 16, 9, 9], out: 18, kernel: 3, stride: 2, padding: 1 },
  { name: '64 channels on 8x8 (Winograd on AVX-512)', input: [1, 64, 8, 8], out: 64, kernel: 3, padding: 1 },
  { name: 'groups 2, batch 3', input: [3, 8, 7, 7], out: 8, kernel: 3, padding: 1, groups: 2 },
  { name: '1x1 stride 2', input: [2, 16, 8, 8], out: 32, kernel: 1, stride: 2 },
];

function reference(conv: Conv2d, x: Tensor): Float64Array {
  const g = convGeom(
    x.shape,
    conv.weight.shape,
    conv.stride,
    conv.padding as [number, number],
    conv.dilation,
    conv.groups,
  );
  return refConv2d(g, x.data, conv.weight.data, conv.bias?.data);
}

/**
 * The eval forward of `layer` on `x` equals `reference()` after each way its weights can change:
 * an optimizer step, an in-place op, a loaded state dict, a replaced weight tensor, and a direct
 * write announced by weightsChanged().
 */
function expectCacheFollowsWeights(layer: Conv2d | Linear, x: Tensor, reference: () => Float64Array): void {
  const check = (): void => {
    layer.eval();
    const y = noGrad(() => layer.forward(x));
    expect(maxRelDiff(y.data, reference())).toBeLessThan(1e-5);
  };
  check();
  const opt = new optim.SGD(layer.parameters(), { lr: 0.5 });
  layer.train();
  opt.zeroGrad();
  ops.sum(ops.mul(layer.forward(x), layer.forward(x))).backward();
  opt.step();
  check();
  noGrad(() => ops.fill_(layer.weight, 0.01));
  check();
  layer.loadStateDict({ weight: Tensor.randn(layer.weight.shape), bias: Tensor.randn(layer.bias!.shape) });
  check();
  layer.weight = new Parameter(Tensor.randn(layer.weight.shape));
  check();
  layer.weight.data.fill(-0.02);
  weightsChanged();
  check();
}

describe('Conv2d in eval mode', () => {
  for (const c of CASES) {
    test(`${c.name}: the packed forward equals a float64 convolution`, () => {
      manualSeed(21);
      const conv = new Conv2d(c.input[1], c.out, c.kernel, { stride: c.stride, padding: c.padding, groups: c.groups });
      conv.eval();
      const x = Tensor.randn(c.input);
      const y = noGrad(() => conv.forward(x));
      expect(maxRelDiff(y.data, reference(conv, x))).toBeLessThan(1e-5);
      // The second call reuses the handle made by the first.
      const packed = packedOwnWeight(conv, conv.weight, conv.groups);
      expect(packedOwnWeight(conv, conv.weight, conv.groups)).toBe(packed);
      expect(maxRelDiff(noGrad(() => conv.forward(x)).data, y.data)).toBe(0);
    });
  }

  test('the cached packed weight follows optimizer steps, in-place ops, state dicts and a replaced weight', () => {
    manualSeed(22);
    const conv = new Conv2d(16, 27, 3, { padding: 1 });
    const x = Tensor.randn([1, 16, 5, 5]);
    expectCacheFollowsWeights(conv, x, () => reference(conv, x));
  });

  test('training mode and wanted gradients take the recorded path (gradients reach the weight)', () => {
    manualSeed(23);
    const conv = new Conv2d(4, 6, 3, { padding: 1 });
    conv.eval();
    const x = Tensor.randn([1, 4, 5, 5]);
    ops.sum(conv.forward(x)).backward(); // eval mode, gradients enabled
    expect(conv.weight.grad).not.toBeNull();
    const g1 = conv.weight.grad!.data.slice();
    conv.weight.grad = null;
    conv.train();
    ops.sum(conv.forward(x)).backward();
    expect(maxRelDiff(conv.weight.grad!.data, g1)).toBeLessThan(1e-6);
    expect(Math.max(...g1.map(Math.abs))).toBeGreaterThan(0);
  });
});

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** x W^T + b in float64. */
function referenceLinear(lin: Linear, x: Tensor): Float64Array {
  const rows = x.numel / lin.inFeatures;
  const out = new Float64Array(rows * lin.outFeatures);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < lin.outFeatures; o++) {
      let acc = lin.bias ? lin.bias.data[o] : 0;
      for (let k = 0; k < lin.inFeatures; k++)
        acc += x.data[r * lin.inFeatures + k] * lin.weight.data[o * lin.inFeatures + k];
      out[r * lin.outFeatures + o] = acc;
    }
  }
  return out;
}

describe('Linear in eval mode', () => {
  // Rows 1, 5 and 8 (where the unpacked product runs by dot products), 9 and 40 (several row
  // panels); features that end mid-panel (45, 1001) and depths past one k block (700).
  for (const [rows, inF, outF, bias] of [
    [1, 512, 1001, true],
    [5, 37, 45, false],
    [8, 700, 100, true],
    [9, 64, 45, true],
    [40, 300, 130, true],
  ] as const) {
    test(`[${rows}, ${inF}] -> ${outF}${bias ? '' : ' without bias'}: the packed forward equals a float64 product on every ISA`, () => {
      manualSeed(31);
      forEachIsa(() => {
        const lin = new Linear(inF, outF, { bias });
        lin.eval();
        const x = Tensor.randn([rows, inF]);
        const y = noGrad(() => lin.forward(x));
        expect(maxRelDiff(y.data, referenceLinear(lin, x))).toBeLessThan(1e-5);
        const packed = packedOwnLinearWeight(lin, lin.weight);
        expect(packedOwnLinearWeight(lin, lin.weight)).toBe(packed);
        expect(packed.bytes).toBeGreaterThanOrEqual(inF * outF * 4);
        // The packed weight holds the values the per-call packing makes, in the same order: above
        // 8 rows (both through the GEMM) the bits agree.
        const unpacked = noGrad(() => ops.linear(x, lin.weight, lin.bias));
        if (rows > 8) expect(bytes(y.data)).toEqual(bytes(unpacked.data));
      });
    });
  }

  test('leading dimensions: [2, 3, 64] runs as 6 rows', () => {
    manualSeed(32);
    const lin = new Linear(64, 20);
    lin.eval();
    const x = Tensor.randn([2, 3, 64]);
    const y = noGrad(() => lin.forward(x));
    expect(y.shape).toEqual([2, 3, 20]);
    expect(maxRelDiff(y.data, referenceLinear(lin, x))).toBeLessThan(1e-5);
  });

  test('the cached packed weight follows optimizer steps, in-place ops, state dicts and a replaced weight', () => {
    manualSeed(33);
    const lin = new Linear(40, 30);
    const x = Tensor.randn([12, 40]);
    expectCacheFollowsWeights(lin, x, () => referenceLinear(lin, x));
  });

  test('wanted gradients take the recorded path and reach the weight', () => {
    manualSeed(34);
    const lin = new Linear(16, 8);
    lin.eval();
    const x = Tensor.randn([3, 16]);
    ops.sum(lin.forward(x)).backward();
    expect(lin.weight.grad).not.toBeNull();
    expect(Math.max(...lin.weight.grad!.data.map(Math.abs))).toBeGreaterThan(0);
  });
});

describe('ops.linear with a packed weight', () => {
  test('gradients flow through a packed forward as through the plain one', () => {
    manualSeed(35);
    const w = Tensor.randn([30, 20]).requireGrad(),
      b = Tensor.randn([30]).requireGrad(),
      x = Tensor.randn([10, 20]).requireGrad();
    const packed = ops.packLinearWeight(w);
    ops.sum(ops.mul(ops.linear(x, w, b, { packed }), ops.linear(x, w, b, { packed }))).backward();
    const grads = [x, w, b].map((t) => t.grad!.data.slice());
    for (const t of [x, w, b]) t.grad = null;
    ops.sum(ops.mul(ops.linear(x, w, b), ops.linear(x, w, b))).backward();
    [x, w, b].forEach((t, i) => expect(maxRelDiff(grads[i], t.grad!.data)).toBe(0));
  });

  test('a handle of another shape, another kind or a non-handle is refused by name', () => {
    const w = Tensor.randn([6, 4]);
    const x = Tensor.randn([2, 4]);
    expect(() => ops.linear(x, w, null, { packed: ops.packLinearWeight(Tensor.randn([4, 6])) })).toThrow(
      'linear: expected packed to be packLinearWeight of a weight [6, 4] but received one of [4, 6]',
    );
    expect(() => ops.linear(x, w, null, { packed: ops.packConv2dWeight(Tensor.randn([6, 4, 1, 1])) as never })).toThrow(
      'linear: expected packed to be a PackedLinearWeight from packLinearWeight but received',
    );
    expect(() => ops.packLinearWeight(Tensor.randn([6, 4, 1]))).toThrow(
      'packLinearWeight: expected weight to be a 2-D tensor [outFeatures, inFeatures] but received shape [6, 4, 1]',
    );
  });
});
