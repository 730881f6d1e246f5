import { ArgumentError, Generator, manualSeed, ShapeError, Tensor } from '../lib';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  BatchNorm2d,
  clipGradNorm_,
  clipGradValue_,
  Conv2d,
  ConvTranspose2d,
  Dropout,
  Flatten,
  Identity,
  LeakyReLU,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  Sigmoid,
  SiLU,
  Tanh,
  Upsample,
  init,
} from '../lib/nn';
import { expectClose } from './helpers';
import { convGeom, refConv2d, refConvTranspose2d } from './reference/conv';

function stats(values: ArrayLike<number>): { mean: number; variance: number; maxAbs: number } {
  let s = 0,
    s2 = 0,
    maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i];
    s2 += values[i] * values[i];
    maxAbs = Math.max(maxAbs, Math.abs(values[i]));
  }
  const mean = s / values.length;
  return { mean, variance: s2 / values.length - mean * mean, maxAbs };
}

/** Asserts values look like U(-bound, bound): inside it, reaching near its ends, with its mean and variance. */
function expectUniform(values: ArrayLike<number>, bound: number): void {
  const { mean, variance, maxAbs } = stats(values);
  const n = values.length;
  expect(maxAbs).toBeLessThanOrEqual(bound * (1 + 1e-6));
  expect(maxAbs).toBeGreaterThan(bound * 0.9);
  // Standard errors: mean sd = bound/sqrt(3n); variance sd ~ bound^2 * 0.3 / sqrt(n). 5 sigma.
  expect(Math.abs(mean)).toBeLessThan((5 * bound) / Math.sqrt(3 * n));
  expect(Math.abs(variance - (bound * bound) / 3)).toBeLessThan((5 * 0.3 * bound * bound) / Math.sqrt(n));
}

describe('PyTorch default initialisation', () => {
  test('Conv2d: weight and bias U(+-1/sqrt(fanIn)), fanIn = inChannels/groups * kh * kw', () => {
    const conv = new Conv2d(16, 64, { kernelSize: 3 });
    expect(conv.weight.shape).toEqual([64, 16, 3, 3]);
    expectUniform(conv.weight.data, 1 / Math.sqrt(16 * 9));
    const wide = new Conv2d(8, 4096, { kernelSize: 1, groups: 2 }); // many biases for bias statistics
    expect(wide.weight.shape).toEqual([4096, 4, 1, 1]);
    expectUniform(wide.bias!.data, 1 / Math.sqrt(4));
  });

  test('ConvTranspose2d: weight [in, out/groups, kh, kw], fanIn from dim 1 as PyTorch does', () => {
    const t = new ConvTranspose2d(64, 32, { kernelSize: 4, stride: 2, groups: 2 });
    expect(t.weight.shape).toEqual([64, 16, 4, 4]);
    expectUniform(t.weight.data, 1 / Math.sqrt(16 * 16));
    expect(t.bias!.shape).toEqual([32]);
  });

  test('Linear: weight [out, in] and bias U(+-1/sqrt(in))', () => {
    const lin = new Linear(100, 300);
    expect(lin.weight.shape).toEqual([300, 100]);
    expectUniform(lin.weight.data, 0.1);
    expect(stats(lin.bias!.data).maxAbs).toBeLessThanOrEqual(0.1);
    expect(new Linear(3, 2, { bias: false }).bias).toBeNull();
  });

  test('init helpers: kaimingNormal_, xavierUniform_, gains, zeros/ones', () => {
    const w = Tensor.empty([256, 128, 3, 3]);
    init.kaimingNormal_(w, { nonlinearity: 'relu' });
    const s = stats(w.data);
    const std = Math.SQRT2 / Math.sqrt(128 * 9);
    expect(Math.abs(Math.sqrt(s.variance) / std - 1)).toBeLessThan(0.01);
    init.kaimingNormal_(w, { nonlinearity: 'relu', mode: 'fanOut' });
    expect(Math.abs(Math.sqrt(stats(w.data).variance) / (Math.SQRT2 / Math.sqrt(256 * 9)) - 1)).toBeLessThan(0.01);
    init.xavierUniform_(w, 2);
    expectUniform(w.data, 2 * Math.sqrt(6 / (128 * 9 + 256 * 9)));
    expect(init.calculateGain('leaky_relu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 12);
    expect(init.calculateGain('tanh')).toBeCloseTo(5 / 3, 12);
    expect(init.ones_(Tensor.empty([3])).toArray()).toEqual([1, 1, 1]);
    expect(init.zeros_(Tensor.empty([2])).toArray()).toEqual([0, 0]);
    expect(() => init.kaimingUniform_(Tensor.empty([5]))).toThrow(/at least 2 dimensions/);
    expect(() => init.kaimingUniform_(w, { mode: 'fan_in' as 'fanIn' })).toThrow(
      /expected mode to be one of 'fanIn', 'fanOut'/,
    );
  });

  test('initialisation is reproducible from manualSeed', () => {
    manualSeed(7);
    const a = new Conv2d(3, 4, 3);
    manualSeed(7);
    const b = new Conv2d(3, 4, 3);
    expect(a.weight.toArray()).toEqual(b.weight.toArray());
    expect(a.bias!.toArray()).toEqual(b.bias!.toArray());
  });
});

describe('layer outputs match the float64 reference', () => {
  test.each([
    { x: [2, 4, 9, 7], o: 6, k: 3, stride: 2, padding: 1, dilation: 1, groups: 2 },
    { x: [1, 3, 8, 8], o: 5, k: [3, 1], stride: 1, padding: [2, 0], dilation: 2, groups: 1 },
    { x: [3, 4, 5, 5], o: 4, k: 3, stride: 1, padding: 1, dilation: 1, groups: 4 }, // depthwise
  ] as const)('Conv2d %j', (c) => {
    const conv = new Conv2d(c.x[1], c.o, {
      kernelSize: c.k as number | [number, number],
      stride: c.stride,
      padding: c.padding as number | [number, number],
      dilation: c.dilation,
      groups: c.groups,
    });
    const x = Tensor.randn(c.x as unknown as number[]);
    const y = conv.forward(x);
    const pair = (v: number | readonly number[]) => (typeof v === 'number' ? [v, v] : [...v]) as [number, number];
    const g = convGeom(x.shape, conv.weight.shape, pair(c.stride), pair(c.padding), pair(c.dilation), c.groups);
    expect(y.shape).toEqual([g.N, g.O, g.OH, g.OW]);
    expectClose(y.data, refConv2d(g, x.data, conv.weight.data, conv.bias!.data), 1e-4, 1e-4);
  });

  test('ConvTranspose2d with stride, output padding and groups', () => {
    const t = new ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2 });
    const x = Tensor.randn([2, 4, 5, 4]);
    const y = t.forward(x);
    const ref = refConvTranspose2d(
      x.shape,
      x.data,
      t.weight.shape,
      t.weight.data,
      t.bias!.data,
      [2, 2],
      [1, 1],
      [1, 1],
      [1, 1],
      2,
    );
    expect(y.shape).toEqual(ref.shape);
    expectClose(y.data, ref.out, 1e-4, 1e-4);
  });

  test('Linear on 2-D and 3-D input', () => {
    const lin = new Linear(5, 3);
    const x = Tensor.randn([2, 4, 5]);
    const y = lin.forward(x);
    expect(y.shape).toEqual([2, 4, 3]);
    const w = lin.weight.data,
      b = lin.bias!.data,
      xd = x.data;
    const expected: number[] = [];
    for (let r = 0; r < 8; r++) {
      for (let o = 0; o < 3; o++) {
        let s = b[o];
        for (let i = 0; i < 5; i++) s += xd[r * 5 + i] * w[o * 5 + i];
        expected.push(s);
      }
    }
    expectClose(y.data, expected, 1e-5, 1e-5);
  });

  test('the kernelSize shorthand equals the options form; Identity returns its input', () => {
    manualSeed(3);
    const a = new Conv2d(2, 3, 3, { padding: 1, bias: false });
    manualSeed(3);
    const b = new Conv2d(2, 3, { kernelSize: 3, padding: 1, bias: false });
    expect(a.weight.toArray()).toEqual(b.weight.toArray());
    expect(a.bias).toBeNull();
    expect(Object.keys(a.stateDict())).toEqual(['weight']);
    const x = Tensor.randn([1, 2, 4, 4]);
    expect(a.forward(x).toArray()).toEqual(b.forward(x).toArray());
    expect(new Identity().forward(x)).toBe(x);
  });

  test('gradients reach every parameter of a Sequential of layers', () => {
    const net = new Sequential<Module>(
      new Conv2d(2, 3, 3, { padding: 1 }),
      new ConvTranspose2d(3, 2, 2, { stride: 2 }),
    );
    const y = net.forward(Tensor.randn([2, 2, 5, 5]));
    expect(y.shape).toEqual([2, 2, 10, 10]);
    y.backward(Tensor.ones(y.shape));
    for (const [name, p] of net.namedParameters()) {
      expect([name, p.grad?.shape]).toEqual([name, p.shape]);
    }
    expect(Object.keys(net.stateDict())).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
  });
});

describe('activation and shape layers', () => {
  const x = Tensor.from([-3, -0.5, 0, 0.25, 2, 7.5], [1, 6, 1, 1]);
  const xs = x.toArray();
  test.each([
    ['ReLU', new ReLU(), (v: number) => Math.max(0, v)],
    ['LeakyReLU(0.2)', new LeakyReLU(0.2), (v: number) => (v > 0 ? v : 0.2 * v)],
    ['LeakyReLU default slope', new LeakyReLU(), (v: number) => (v > 0 ? v : 0.01 * v)],
    ['Sigmoid', new Sigmoid(), (v: number) => 1 / (1 + Math.exp(-v))],
    ['Tanh', new Tanh(), (v: number) => Math.tanh(v)],
    ['SiLU', new SiLU(), (v: number) => v / (1 + Math.exp(-v))],
  ] as [string, Module, (v: number) => number][])('%s matches its closed form', (_name, layer, f) => {
    const y = layer.forward(x);
    expect(y.shape).toEqual(x.shape);
    expectClose(y.data, xs.map(f), 1e-6, 1e-6);
    expect(Object.keys(layer.stateDict())).toEqual([]);
  });

  test('Flatten keeps the batch by default; dims are configurable', () => {
    const t = Tensor.randn([2, 3, 4, 5]);
    expect(new Flatten().forward(t).shape).toEqual([2, 60]);
    expect(new Flatten(2).forward(t).shape).toEqual([2, 3, 20]);
    expect(new Flatten(0, 1).forward(t).shape).toEqual([6, 4, 5]);
    expect(new Flatten().forward(t).toArray()).toEqual(t.toArray());
    expect(() => new Flatten(1.5)).toThrow(/expected startDim to be an integer/);
  });
});

describe('BatchNorm2d', () => {
  function channelStats(x: Tensor): { mean: number[]; biasedVar: number[]; unbiasedVar: number[] } {
    const [n, c, h, w] = x.shape;
    const d = x.data,
      m = n * h * w;
    const mean: number[] = [],
      biasedVar: number[] = [],
      unbiasedVar: number[] = [];
    for (let ch = 0; ch < c; ch++) {
      let s = 0,
        s2 = 0;
      for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) s += d[(b * c + ch) * h * w + i];
      const mu = s / m;
      for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) s2 += (d[(b * c + ch) * h * w + i] - mu) ** 2;
      mean.push(mu);
      biasedVar.push(s2 / m);
      unbiasedVar.push(s2 / (m - 1));
    }
    return { mean, biasedVar, unbiasedVar };
  }

  function normalised(
    x: Tensor,
    mean: number[],
    variance: number[],
    weight: ArrayLike<number>,
    bias: ArrayLike<number>,
    eps: number,
  ): number[] {
    const [, c, h, w] = x.shape;
    return x.toArray().map((v, i) => {
      const ch = Math.floor(i / (h * w)) % c;
      return ((v - mean[ch]) / Math.sqrt(variance[ch] + eps)) * weight[ch] + bias[ch];
    });
  }

  test('state dict keys, defaults and PyTorch initialisation', () => {
    const bn = new BatchNorm2d(3);
    expect(Object.keys(bn.stateDict())).toEqual([
      'weight',
      'bias',
      'running_mean',
      'running_var',
      'num_batches_tracked',
    ]);
    expect(bn.weight!.toArray()).toEqual([1, 1, 1]);
    expect(bn.bias!.toArray()).toEqual([0, 0, 0]);
    expect(bn.runningMean!.toArray()).toEqual([0, 0, 0]);
    expect(bn.runningVar!.toArray()).toEqual([1, 1, 1]);
    expect(bn.numBatchesTracked).toBe(0);
    expect(Object.keys(new BatchNorm2d(2, { affine: false }).stateDict())).toEqual([
      'running_mean',
      'running_var',
      'num_batches_tracked',
    ]);
    expect(Object.keys(new BatchNorm2d(2, { trackRunningStats: false }).stateDict())).toEqual(['weight', 'bias']);
  });

  test('training: batch statistics, running statistics updated with momentum', () => {
    const bn = new BatchNorm2d(3, { momentum: 0.2, eps: 1e-3 });
    bn.weight!.data.set([1, 2, 0.5]);
    bn.bias!.data.set([0, -1, 3]);
    const x = Tensor.randn([4, 3, 5, 3], { mean: 2, std: 3 });
    const s = channelStats(x);
    const y = bn.forward(x);
    expectClose(y.data, normalised(x, s.mean, s.biasedVar, [1, 2, 0.5], [0, -1, 3], 1e-3), 1e-4, 1e-4);
    expectClose(
      bn.runningMean!.data,
      s.mean.map((m) => 0.2 * m),
      1e-5,
      1e-5,
    );
    expectClose(
      bn.runningVar!.data,
      s.unbiasedVar.map((v) => 0.8 + 0.2 * v),
      1e-4,
      1e-5,
    );
    expect(bn.numBatchesTracked).toBe(1);
  });

  test('momentum null keeps a cumulative average of the batch statistics', () => {
    const bn = new BatchNorm2d(2, { momentum: null });
    const a = Tensor.randn([3, 2, 4, 4], { mean: 1 });
    const b = Tensor.randn([3, 2, 4, 4], { mean: -2 });
    bn.forward(a);
    bn.forward(b);
    const sa = channelStats(a),
      sb = channelStats(b);
    expectClose(
      bn.runningMean!.data,
      sa.mean.map((m, i) => (m + sb.mean[i]) / 2),
      1e-5,
      1e-5,
    );
    expectClose(
      bn.runningVar!.data,
      sa.unbiasedVar.map((v, i) => (v + sb.unbiasedVar[i]) / 2),
      1e-4,
      1e-5,
    );
    expect(bn.numBatchesTracked).toBe(2);
  });

  test('eval uses the running statistics and leaves them unchanged', () => {
    const bn = new BatchNorm2d(2);
    bn.runningMean!.data.set([0.5, -1]);
    bn.runningVar!.data.set([4, 0.25]);
    bn.eval();
    const x = Tensor.randn([2, 2, 3, 3]);
    const y = bn.forward(x);
    expectClose(y.data, normalised(x, [0.5, -1], [4, 0.25], [1, 1], [0, 0], 1e-5), 1e-5, 1e-5);
    expect(bn.runningMean!.toArray()).toEqual([0.5, -1]);
    expect(bn.numBatchesTracked).toBe(0);
  });

  test('without running statistics eval mode normalises with the batch', () => {
    const bn = new BatchNorm2d(2, { trackRunningStats: false }).eval();
    const x = Tensor.randn([2, 2, 3, 3], { mean: 3 });
    const s = channelStats(x);
    expectClose(bn.forward(x).data, normalised(x, s.mean, s.biasedVar, [1, 1], [0, 0], 1e-5), 1e-4, 1e-4);
  });

  test('gradients reach weight and bias; wrong channels and bad options are errors', () => {
    const bn = new BatchNorm2d(2);
    const y = bn.forward(Tensor.randn([2, 2, 3, 3]));
    y.backward(Tensor.randn(y.shape));
    expect(bn.weight!.grad!.shape).toEqual([2]);
    expect(bn.bias!.grad!.shape).toEqual([2]);
    expect(() => bn.forward(Tensor.zeros([2, 3, 3, 3]))).toThrow(
      'BatchNorm2d: expected input of shape [N, 2, H, W] (2 channels) but received [2, 3, 3, 3]',
    );
    expect(() => new BatchNorm2d(2, { momentum: 2 })).toThrow(/expected momentum to be a number in \[0, 1\] or null/);
    expect(() => new BatchNorm2d(0)).toThrow(ArgumentError);
    // One value per channel has no batch variance: an error, and nothing counted.
    const fresh = new BatchNorm2d(2);
    expect(() => fresh.forward(Tensor.zeros([1, 2, 1, 1]))).toThrow(ShapeError);
    expect(fresh.numBatchesTracked).toBe(0);
  });
});

describe('pooling, upsampling and dropout layers', () => {
  const x = Tensor.arange(0, 32).reshape([1, 2, 4, 4]);

  test('MaxPool2d and AvgPool2d: stride defaults to the kernel size', () => {
    expect(new MaxPool2d(2).forward(x).toArray()).toEqual([5, 7, 13, 15, 21, 23, 29, 31]);
    expect(new AvgPool2d(2).forward(x).toArray()).toEqual([2.5, 4.5, 10.5, 12.5, 18.5, 20.5, 26.5, 28.5]);
    expect(new MaxPool2d({ kernelSize: 3, stride: 1, padding: 1 }).forward(x).shape).toEqual([1, 2, 4, 4]);
    expect(new AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }).forward(x).shape).toEqual([1, 2, 2, 2]);
    expect(() => new MaxPool2d(5).forward(x)).toThrow(ShapeError);
  });

  test('AdaptiveAvgPool2d(1) is the per-channel mean', () => {
    const y = new AdaptiveAvgPool2d(1).forward(x);
    expect(y.shape).toEqual([1, 2, 1, 1]);
    expectClose(y.data, [7.5, 23.5], 1e-6);
    expect(new AdaptiveAvgPool2d([2, null]).forward(x).shape).toEqual([1, 2, 2, 4]);
  });

  test('Upsample: nearest by scale factor, bilinear by size with alignCorners', () => {
    const small = Tensor.from([1, 2, 3, 4], [1, 1, 2, 2]);
    expect(new Upsample({ scaleFactor: 2 }).forward(small).toArray()).toEqual([
      1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4,
    ]);
    const up = new Upsample({ size: [3, 3], mode: 'bilinear', alignCorners: true }).forward(small);
    expectClose(up.data, [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4], 1e-6);
    expect(() => new Upsample({})).toThrow('Upsample: expected exactly one of size and scaleFactor');
  });

  test('Dropout: identity in eval mode and for p = 0; in training zeroes about p and scales the rest', () => {
    const ones = Tensor.ones([20000]);
    const drop = new Dropout(0.3, new Generator(1));
    const y = drop.forward(ones).toArray();
    const zeros = y.filter((v) => v === 0).length;
    expect(Math.abs(zeros / y.length - 0.3)).toBeLessThan(0.02);
    for (const v of y) if (v !== 0) expect(v).toBeCloseTo(1 / 0.7, 5);
    drop.eval();
    expect(drop.forward(ones).toArray()).toEqual(ones.toArray());
    expect(new Dropout(0).forward(ones).toArray()).toEqual(ones.toArray());
    expect(() => new Dropout(1.5)).toThrow(
      'Dropout: expected p to be a number in [0, 1] but received 1.5 of type number',
    );
  });
});

describe('bad input to layers', () => {
  test('wrong channel counts name the layer, the expectation and what was received', () => {
    const conv = new Conv2d(3, 8, 3);
    expect(() => conv.forward(Tensor.zeros([1, 4, 8, 8]))).toThrow(ShapeError);
    expect(() => conv.forward(Tensor.zeros([1, 4, 8, 8]))).toThrow(
      'Conv2d: expected input of shape [N, 3, H, W] (3 channels) but received [1, 4, 8, 8]',
    );
    expect(() => conv.forward(Tensor.zeros([3, 8, 8]))).toThrow(/received \[3, 8, 8\]/);
    expect(() => new ConvTranspose2d(2, 2, 2).forward(Tensor.zeros([1, 3, 2, 2]))).toThrow(
      /ConvTranspose2d: expected input of shape \[N, 2, H, W\]/,
    );
    expect(() => new Linear(4, 2).forward(Tensor.zeros([2, 5]))).toThrow(
      'Linear: expected input of shape [..., 4] (4 features) but received [2, 5]',
    );
  });

  test('kernel larger than the padded input is a ShapeError', () => {
    expect(() => new Conv2d(1, 1, 5).forward(Tensor.zeros([1, 1, 3, 3]))).toThrow(ShapeError);
  });

  test('bad constructor arguments', () => {
    expect(() => new Conv2d(3, 8, { kernelSize: 3, groups: 2 })).toThrow(
      'Conv2d: expected inChannels (3) and outChannels (8) to be divisible by groups but received groups 2',
    );
    expect(() => new Conv2d(0, 8, 3)).toThrow(
      'Conv2d: expected inChannels to be a positive integer but received 0 of type number',
    );
    expect(() => new Conv2d(3, 8, 2.5)).toThrow(
      /expected kernelSize to be an integer or a pair of positive integers but received 2.5/,
    );
    expect(() => new Conv2d(3, 8, { kernelSize: 3, stride: 0 })).toThrow(/expected stride/);
    expect(() => new Conv2d(3, 8, null as unknown as number)).toThrow(ArgumentError);
    expect(() => new Linear(3.5, 2)).toThrow(
      'Linear: expected inFeatures to be a positive integer but received 3.5 of type number',
    );
  });
});

describe('gradient clipping', () => {
  function withGrads(values: number[][]): Tensor[] {
    return values.map((v) => {
      const p = Tensor.zeros([v.length], { requiresGrad: true });
      p.grad = Tensor.from(v);
      return p;
    });
  }

  test('clipGradNorm_ scales every gradient by maxNorm / globalNorm and returns the norm', () => {
    const ps = withGrads([
      [3, 0],
      [0, 4, 0],
    ]); // global L2 norm 5
    expect(clipGradNorm_(ps, 1)).toBeCloseTo(5, 6);
    expectClose(ps[0].grad!.data, [0.6, 0], 1e-6);
    expectClose(ps[1].grad!.data, [0, 0.8, 0], 1e-6);
    // Under the limit: untouched.
    const small = withGrads([[0.1, -0.2]]);
    clipGradNorm_(small, 1);
    expectClose(small[0].grad!.data, [0.1, -0.2], 1e-7);
    // Infinity norm and L1.
    const inf = withGrads([[1, -6], [2]]);
    expect(clipGradNorm_(inf, 3, Infinity)).toBe(6);
    expectClose(inf[0].grad!.data, [0.5, -3], 1e-5);
    expect(clipGradNorm_(withGrads([[1, -2], [3]]), 100, 1)).toBeCloseTo(6, 6);
    // Parameters without gradients are skipped.
    expect(clipGradNorm_([Tensor.zeros([2], { requiresGrad: true })], 1)).toBe(0);
  });

  test('clipGradValue_ clamps elementwise; bad arguments are ArgumentErrors', () => {
    const ps = withGrads([[-5, 0.5, 3]]);
    clipGradValue_(ps, 1);
    expect(ps[0].grad!.toArray()).toEqual([-1, 0.5, 1]);
    expect(() => clipGradNorm_(ps, NaN)).toThrow(
      'clipGradNorm_: expected maxNorm to be a finite number but received NaN of type number',
    );
    expect(() => clipGradNorm_(ps, 1, 0)).toThrow(/expected normType to be a positive number or Infinity/);
    expect(() => clipGradValue_(ps, -1)).toThrow(ArgumentError);
    expect(() => clipGradNorm_(3 as unknown as Tensor[], 1)).toThrow(
      /expected parameters to be an iterable of Tensors/,
    );
  });
});

describe('Conv2d printouts name what differs from the defaults, as PyTorch', () => {
  test('padding, dilation, groups and bias appear', () => {
    expect(new Conv2d(4, 8, { kernelSize: 3 }).toString()).toBe('Conv2d(4, 8, kernelSize=[3, 3], stride=[1, 1])');
    expect(new Conv2d(4, 8, { kernelSize: 3, padding: 1, dilation: 2, groups: 2, bias: false }).toString()).toBe(
      'Conv2d(4, 8, kernelSize=[3, 3], stride=[1, 1], padding=[1, 1], dilation=[2, 2], groups=2, bias=false)',
    );
    expect(new Conv2d(4, 8, { kernelSize: 3, padding: 'same' }).toString()).toContain("padding='same'");
    expect(new ConvTranspose2d(4, 8, { kernelSize: 3, stride: 2, padding: 1, outputPadding: 1 }).toString()).toBe(
      'ConvTranspose2d(4, 8, kernelSize=[3, 3], stride=[2, 2], padding=[1, 1], outputPadding=[1, 1])',
    );
  });
});
