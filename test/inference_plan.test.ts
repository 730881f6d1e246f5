/**
 * nn.InferencePlan: a replay of the recorded native calls returns what the forward it recorded
 * returns (the same kernels in the same order: the same bits) for new inputs, for plain,
 * deformable and modulated ResNets, a U-Net, OctNet and DynamicNet; a small conv net's replay
 * equals a float64 reference; the plan records again after the weights change and per input
 * shape; intermediates share memory once dead; its memory is its own (tensors allocated between
 * runs do not disturb it); forwards it cannot replay faithfully are refused with typed errors at
 * recording time.
 */
import { noGrad } from '../lib/autograd';
import * as models from '../lib/models';
import { nativeTable } from '../lib/native_intercept';
import { Conv2d, Dropout, Flatten, InferencePlan, Linear, Module, Parameter, ReLU, Sequential } from '../lib/nn';
import { weightsGeneration } from '../lib/weights_generation';
import * as ops from '../lib/ops';
import * as optim from '../lib/optim';
import { manualSeed } from '../lib/random';
import { tidy } from '../lib/scope';
import { Tensor } from '../lib/tensor';
import { maxRelDiff } from './helpers';
import { convGeom, refConv2d } from './reference/conv';

function forward(model: Module, x: Tensor): Tensor {
  return noGrad(() => model.forward(x) as Tensor);
}

/** Three inputs: the plan's answers for each equal the forward's, bit for bit, and stay put. */
function expectReplaysEqualForward(model: Module, shape: number[]): void {
  const plan = new InferencePlan(model, Tensor.randn(shape));
  const results: Tensor[] = [];
  for (let i = 0; i < 3; i++) {
    const x = Tensor.randn(shape);
    const got = plan.run(x);
    expect(Array.from(got.data)).toEqual(Array.from(forward(model, x).data));
    results.push(got);
  }
  expect(maxRelDiff(results[0].data, results[1].data)).toBeGreaterThan(1e-3); // not one buffer
  plan.dispose();
}

describe('InferencePlan replays the recorded forward', () => {
  for (const conv of ['standard', 'deform', 'modulated'] as const) {
    test(`ResNet-18 (${conv}, width 8), batch 1 and 2`, () => {
      manualSeed(31);
      const net = models.resnet18({
        numClasses: 5,
        stem: 'cifar',
        width: 8,
        conv: conv === 'standard' ? 'standard' : { kind: conv, stages: [2, 3, 4] },
      });
      net.eval();
      expectReplaysEqualForward(net, [1, 3, 16, 16]);
      expectReplaysEqualForward(net, [2, 3, 16, 16]);
    });
  }

  test('U-Net (concatenations and upsampling), OctNet (two bands) and DynamicNet (per-sample kernels)', () => {
    manualSeed(32);
    const unet = models.unet({ inChannels: 1, numClasses: 3, baseChannels: 8, depth: 2 });
    unet.eval();
    expectReplaysEqualForward(unet, [2, 1, 16, 16]);
    const octnet = new models.OctNet({ numClasses: 4, widths: [8, 16, 32] });
    octnet.eval();
    expectReplaysEqualForward(octnet, [2, 3, 16, 16]);
    const dynamic = new models.DynamicNet({ numClasses: 4, widths: [8, 16, 16, 32] });
    dynamic.eval();
    expectReplaysEqualForward(dynamic, [2, 3, 16, 16]);
  });

  test('a model with two outputs (and dropout, inactive in eval mode) replays to both', () => {
    manualSeed(37);
    const net = new TwoHeads();
    net.eval();
    const plan = new InferencePlan(net, Tensor.randn([2, 3, 8, 8]));
    const x = Tensor.randn([2, 3, 8, 8]);
    const got = plan.run<Tensor[]>(x);
    const want = noGrad(() => net.forward(x));
    expect(got.map((t) => t.shape)).toEqual([
      [2, 4, 8, 8],
      [2, 4, 4, 4],
    ]);
    for (let i = 0; i < 2; i++) expect(Array.from(got[i].data)).toEqual(Array.from(want[i].data));
  });

  test('a conv -> ReLU -> conv net replays to a float64 reference', () => {
    manualSeed(33);
    const a = new Conv2d(3, 8, 3, { padding: 1 });
    const b = new Conv2d(8, 4, 3, { stride: 2, padding: 1 });
    const net = new Sequential(a, new ReLU(), b);
    net.eval();
    const plan = new InferencePlan(net, Tensor.randn([2, 3, 9, 9]));
    const x = Tensor.randn([2, 3, 9, 9]);
    const hidden = refConv2d(
      convGeom(x.shape, a.weight.shape, [1, 1], [1, 1], [1, 1], 1),
      x.data,
      a.weight.data,
      a.bias?.data,
    );
    const relu = Float32Array.from(hidden, (v) => Math.max(0, v));
    const want = refConv2d(
      convGeom([2, 8, 9, 9], b.weight.shape, [2, 2], [1, 1], [1, 1], 1),
      relu,
      b.weight.data,
      b.bias?.data,
    );
    expect(maxRelDiff(plan.run(x).data, want)).toBeLessThan(1e-5);
  });

  test('records again when the weights move and for each new input shape', () => {
    manualSeed(34);
    const net = models.resnet18({ numClasses: 3, stem: 'cifar', width: 8, conv: { kind: 'deform', stages: [3, 4] } });
    net.eval();
    const x = Tensor.randn([1, 3, 16, 16]);
    const plan = new InferencePlan(net, x);
    const before = plan.run(x);
    const opt = new optim.SGD(net.parameters(), { lr: 0.1 });
    net.train();
    opt.zeroGrad();
    ops.crossEntropy(net.forward(Tensor.randn([2, 3, 16, 16])), Tensor.from([0, 2])).backward();
    opt.step();
    net.eval();
    const after = plan.run(x);
    expect(Array.from(after.data)).toEqual(Array.from(forward(net, x).data));
    expect(maxRelDiff(after.data, before.data)).toBeGreaterThan(1e-4);
    const wide = Tensor.randn([3, 3, 12, 20]);
    expect(Array.from(plan.run(wide).data)).toEqual(Array.from(forward(net, wide).data));
    expect(plan.shapes).toEqual([
      [1, 3, 16, 16],
      [3, 3, 12, 20],
    ]);
  });

  test('intermediates share memory once their last reader has run: ten same-size layers need three buffers', () => {
    manualSeed(36);
    const layers: Module[] = [];
    for (let i = 0; i < 10; i++) layers.push(new Conv2d(8, 8, 3, { padding: 1 }), new ReLU());
    const net = new Sequential(...layers);
    net.eval();
    const x = Tensor.randn([1, 8, 16, 16]);
    const plan = new InferencePlan(net, x);
    expect(Array.from(plan.run(x).data)).toEqual(Array.from(forward(net, x).data));
    // 20 intermediates of 8 KB in the forward; the plan holds the output and two in flight.
    expect(plan.bytes).toBeLessThanOrEqual(3 * 4 * 8 * 16 * 16);
    expect(plan.bytes).toBeGreaterThanOrEqual(2 * 4 * 8 * 16 * 16);
  });

  test('a weight replaced without an announced change: the plan records again', () => {
    manualSeed(38);
    const conv = new Conv2d(3, 5, 3, { padding: 1 });
    const lin = new Linear(5 * 6 * 6, 4);
    const net = new Sequential(conv, new ReLU(), new Flatten(), lin);
    net.eval();
    const x = Tensor.randn([1, 3, 6, 6]);
    const plan = new InferencePlan(net, x);
    let before = Array.from(plan.run(x).data);
    for (const layer of [conv, lin] as (Conv2d | Linear)[]) {
      const generation = weightsGeneration();
      layer.weight = new Parameter(Tensor.randn(layer.weight.shape));
      expect(weightsGeneration()).toBe(generation); // nothing announced it
      const got = Array.from(plan.run(x).data);
      expect(got).toEqual(Array.from(forward(net, x).data));
      expect(got).not.toEqual(before);
      before = got;
    }
  });

  test('a tensor the forward reads, freed since: a typed error from the forward, not a read of freed memory', () => {
    const net = new Scales();
    net.eval();
    const x = Tensor.randn([1, 4]);
    const plan = new InferencePlan(net, x);
    expect(Array.from(plan.run(x).data)).toEqual(Array.from(forward(net, x).data));
    net.scale.dispose();
    tidy(() => void Tensor.full([1, 4], 1e6)); // the freed memory handed out again
    expect(() => plan.run(x)).toThrow(/disposed/);
  });

  test("the plan's memory is its own: tensors made and freed between runs do not reach it", () => {
    manualSeed(35);
    const net = models.resnet18({ numClasses: 3, stem: 'cifar', width: 8, conv: { kind: 'modulated', stages: [2] } });
    net.eval();
    const x = Tensor.randn([1, 3, 16, 16]);
    const plan = new InferencePlan(net, x);
    const first = Array.from(plan.run(x).data);
    // Same sizes as the intermediates, taken from and returned to the storage pool, overwritten.
    tidy(() => {
      for (const c of [8, 16, 32, 64]) for (const s of [16, 8, 4, 2]) Tensor.full([1, c, s, s], 1e6);
    });
    forward(net, Tensor.randn([1, 3, 16, 16]));
    expect(Array.from(plan.run(x).data)).toEqual(first);
  });
});

/** Two outputs (a pyramid-like head): a conv of the input and a pooled, dropped-out copy of it. */
class TwoHeads extends Module {
  conv = new Conv2d(3, 4, 3, { padding: 1 });
  drop = new Dropout(0.5);

  forward(x: Tensor): Tensor[] {
    const y = ops.relu(this.conv.forward(x));
    return [y, ops.avgPool2d(this.drop.forward(y), { kernelSize: 2 })];
  }
}

/** Multiplies by a tensor it holds (not a Parameter: its memory is its own). */
class Scales extends Module {
  scale = Tensor.randn([1, 4]);

  forward(x: Tensor): Tensor {
    return ops.mul(x, this.scale);
  }
}

class ReadsActivations extends Module {
  forward(x: Tensor): Tensor {
    return x.data[0] > 0 ? ops.relu(x) : ops.neg(x);
  }
}

class BuildsConstants extends Module {
  forward(x: Tensor): Tensor {
    return ops.add(x, Tensor.from([1, 2], [1, 2, 1, 1]));
  }
}

class ReturnsInput extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

describe('InferencePlan refuses what it cannot replay', () => {
  test('training mode, activations read or built in JavaScript, an output not computed', () => {
    const x = Tensor.randn([1, 2, 4, 4]);
    const conv = new Conv2d(2, 2, 3, { padding: 1 });
    expect(() => new InferencePlan(conv, x)).toThrow(/Conv2d is in training mode \(call model.eval\(\) first\)/);
    const reads = new ReadsActivations();
    reads.eval();
    expect(() => new InferencePlan(reads, x)).toThrow(
      /cannot record ReadsActivations's forward: its forward touches a tensor of shape \[1, 2, 4, 4\] from JavaScript/,
    );
    const builds = new BuildsConstants();
    builds.eval();
    expect(() => new InferencePlan(builds, x)).toThrow(/touches a tensor of shape \[1, 2, 1, 1\] from JavaScript/);
    const same = new ReturnsInput();
    same.eval();
    expect(() => new InferencePlan(same, x)).toThrow(/its output is not computed by the forward/);
  });

  test('bad models and inputs are typed errors naming the argument', () => {
    const conv2dBefore = nativeTable().conv2d;
    const conv = new Conv2d(2, 2, 3, { padding: 1 });
    conv.eval();
    expect(() => new InferencePlan({} as Module, Tensor.randn([1, 2, 4, 4]))).toThrow(
      /expected model to be an nn.Module but received an instance of Object/,
    );
    expect(() => new InferencePlan(conv, [1, 2] as unknown as Tensor)).toThrow(/expected example to be a Tensor/);
    const plan = new InferencePlan(conv, Tensor.randn([1, 2, 4, 4]));
    const gone = Tensor.randn([1, 2, 4, 4]);
    gone.dispose();
    expect(() => plan.run(gone)).toThrow(/InferencePlan: input was disposed/);
    expect(() => plan.run(Tensor.randn([1, 3, 4, 4]))).toThrow(
      /Conv2d: expected input of shape \[N, 2, H, W\] \(2 channels\) but received \[1, 3, 4, 4\]/,
    );
    // A failed recording leaves the plan as it was and the native functions unwrapped.
    const x = Tensor.randn([1, 2, 4, 4]);
    expect(Array.from(plan.run(x).data)).toEqual(Array.from(forward(conv, x).data));
    expect(nativeTable().conv2d).toBe(conv2dBefore);
    // Switching the model to training mode moves the weights generation: the next run records
    // again, and refuses.
    conv.train();
    expect(() => plan.run(x)).toThrow(/Conv2d is in training mode/);
    conv.eval();
    expect(Array.from(plan.run(x).data)).toEqual(Array.from(forward(conv, x).data));
    plan.dispose();
    expect(() => plan.run(Tensor.randn([1, 2, 4, 4]))).toThrow(/the plan was disposed/);
  });
});
