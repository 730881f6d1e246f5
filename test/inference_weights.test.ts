/**
 * Conv2d in eval mode under noGrad runs on its weight packed once (lib/nn/inference_weights):
 * the result equals a naive float64 convolution on every native path the packed handle feeds
 * (kn2row offset predictors, stride 2, Winograd-sized layers, groups, 1x1), and the cached
 * handle never serves stale weights (optimizer steps, in-place ops, loaded state dicts, a
 * replaced weight tensor). Training mode and gradients take the ordinary path.
 */
import { noGrad } from '../lib/autograd';
import { weightsChanged } from '../lib';
import { Conv2d, Parameter } from '../lib/nn';
import { packedOwnWeight } from '../lib/nn/inference_weights';
import * as ops from '../lib/ops';
import * as optim from '../lib/optim';
import { manualSeed } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { maxRelDiff } from './helpers';
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
    const check = (): void => {
      conv.eval();
      const y = noGrad(() => conv.forward(x));
      expect(maxRelDiff(y.data, reference(conv, x))).toBeLessThan(1e-5);
    };
    check();
    const opt = new optim.SGD(conv.parameters(), { lr: 0.5 });
    conv.train();
    opt.zeroGrad();
    ops.sum(ops.mul(conv.forward(x), conv.forward(x))).backward();
    opt.step();
    check();
    noGrad(() => ops.fill_(conv.weight, 0.01));
    check();
    conv.loadStateDict({ weight: Tensor.randn([27, 16, 3, 3]), bias: Tensor.randn([27]) });
    check();
    conv.weight = new Parameter(Tensor.randn([27, 16, 3, 3]));
    check();
    conv.weight.data.fill(-0.02); // a direct write, announced
    weightsChanged();
    check();
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
