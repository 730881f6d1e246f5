import { nn, ops, Tensor, manualSeed, ArgumentError, ShapeError } from '../lib';
import { DynamicConv2d, DynamicConvBlock, setTemperature } from '../lib/nn/dynamic';
import { DynamicNet } from '../lib/models/dynamic_net';
import { TemperatureSchedule, linearTemperature } from '../lib/optim/temperature';
import { dynamicConvForward } from './reference/dynamic_conv';
import { expectClose } from './helpers';

// float64 routing MLP: mean pool -> fc1 -> relu -> fc2 -> softmax(z / T) or sigmoid(z / T).
function referenceRouting(layer: DynamicConv2d, x: Tensor): Float64Array {
  const [B, C, H, W] = x.shape;
  const { fc1, fc2 } = layer.attention;
  const hidden = fc1.outFeatures,
    K = fc2.outFeatures;
  const out = new Float64Array(B * K);
  for (let b = 0; b < B; b++) {
    const pooled = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let p = 0; p < H * W; p++) s += x.data[(b * C + c) * H * W + p];
      pooled[c] = s / (H * W);
    }
    const h = new Float64Array(hidden);
    for (let j = 0; j < hidden; j++) {
      let s = fc1.bias!.data[j];
      for (let c = 0; c < C; c++) s += fc1.weight.data[j * C + c] * pooled[c];
      h[j] = Math.max(0, s);
    }
    const z = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      let s = fc2.bias!.data[k];
      for (let j = 0; j < hidden; j++) s += fc2.weight.data[k * hidden + j] * h[j];
      z[k] = s / layer.temperature;
    }
    if (layer.routing === 'softmax') {
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const total = e.reduce((a, v) => a + v, 0);
      for (let k = 0; k < K; k++) out[b * K + k] = e[k] / total;
    } else {
      for (let k = 0; k < K; k++) out[b * K + k] = 1 / (1 + Math.exp(-z[k]));
    }
  }
  return out;
}

describe('DynamicConv2d layer', () => {
  beforeEach(() => manualSeed(21));

  for (const routing of ['softmax', 'sigmoid'] as const) {
    test(`forward equals the float64 routing MLP + per-sample reference (${routing}, temperature 3, groups 2, stride 2)`, () => {
      const layer = new DynamicConv2d(6, 8, {
        kernelSize: 3,
        padding: 1,
        stride: 2,
        groups: 2,
        experts: 3,
        routing,
        temperature: 3,
      });
      // Larger routing weights than the default init, so the routing really varies per sample.
      layer.attention.fc2.weight.data.forEach((v, i, a) => {
        a[i] = v * 8;
      });
      const x = Tensor.randn([3, 6, 7, 5]);
      const a = layer.routingWeights(x);
      const wantA = referenceRouting(layer, x);
      expectClose(a.data, wantA, 1e-5, 1e-4);
      const y = layer.forward(x);
      const want = dynamicConvForward(
        {
          B: 3,
          C: 6,
          H: 7,
          W: 5,
          K: 3,
          O: 8,
          kh: 3,
          kw: 3,
          stride: [2, 2],
          padding: [1, 1],
          dilation: [1, 1],
          groups: 2,
        },
        { input: x.data, experts: layer.weight.data, attention: wantA, expertBias: layer.bias!.data },
      );
      expectClose(y.data, want, 1e-4, 1e-4);
    });
  }

  test('softmax routing weights sum to 1 per sample; sigmoid ones lie in (0, 1); temperature flattens them', () => {
    const layer = new DynamicConv2d(4, 4, { kernelSize: 1, experts: 5 });
    layer.attention.fc2.weight.data.forEach((v, i, a) => {
      a[i] = v * 20;
    });
    const x = Tensor.randn([6, 4, 3, 3]);
    const a = layer.routingWeights(x);
    for (let b = 0; b < 6; b++) {
      const row = Array.from(a.data.subarray(b * 5, b * 5 + 5));
      expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
      expect(row.every((v) => v > 0)).toBe(true);
    }
    const spread = (t: Tensor) => Math.max(...t.data) - Math.min(...t.data);
    layer.temperature = 30;
    const hot = layer.routingWeights(x);
    expect(spread(hot)).toBeLessThan(spread(a));
    expectClose(hot.data, referenceRouting(layer, x), 1e-6, 1e-4);
    const sig = new DynamicConv2d(4, 4, { kernelSize: 1, experts: 5, routing: 'sigmoid' });
    expect(Array.from(sig.routingWeights(x).data).every((v) => v > 0 && v < 1)).toBe(true);
  });

  test('each expert is initialised like a Conv2d of its own (kaiming_uniform a=sqrt(5), bias U(+-1/sqrt(fanIn)))', () => {
    const layer = new DynamicConv2d(16, 32, { kernelSize: 3, experts: 4 });
    const fanIn = 16 * 9,
      bound = 1 / Math.sqrt(fanIn);
    const D = 32 * fanIn;
    for (let k = 0; k < 4; k++) {
      const w = layer.weight.data.subarray(k * D, (k + 1) * D);
      const maxAbs = Math.max(...Array.from(w, Math.abs));
      expect(maxAbs).toBeLessThanOrEqual(bound);
      expect(maxAbs).toBeGreaterThan(0.95 * bound);
      const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / D);
      expect(std).toBeGreaterThan((0.9 * bound) / Math.sqrt(3));
      expect(std).toBeLessThan((1.1 * bound) / Math.sqrt(3));
      const b = layer.bias!.data.subarray(k * 32, (k + 1) * 32);
      expect(Math.max(...Array.from(b, Math.abs))).toBeLessThanOrEqual(bound);
    }
    expect(layer.weight.data[0]).not.toBe(layer.weight.data[D]); // experts differ
  });

  test('parameters and state-dict keys', () => {
    const layer = new DynamicConv2d(8, 16, { kernelSize: 3, experts: 4, reduction: 2 });
    const dict = layer.stateDict();
    expect(Object.keys(dict)).toEqual([
      'weight',
      'bias',
      'attention.fc1.weight',
      'attention.fc1.bias',
      'attention.fc2.weight',
      'attention.fc2.bias',
    ]);
    expect(dict.weight.shape).toEqual([4, 16, 8, 3, 3]);
    expect(dict.bias.shape).toEqual([4, 16]);
    expect(dict['attention.fc1.weight'].shape).toEqual([4, 8]);
    expect(dict['attention.fc2.weight'].shape).toEqual([4, 4]);
    expect(Object.keys(new DynamicConvBlock(8, 16, { kernelSize: 3 }).stateDict())).toContain('bn.running_mean');
  });

  test('gradients reach the experts and the routing MLP; finite differences through the routing', () => {
    const layer = new DynamicConv2d(3, 4, { kernelSize: 3, padding: 1, experts: 3, temperature: 2 });
    layer.attention.fc2.weight.data.forEach((v, i, a) => {
      a[i] = v * 5;
    });
    const x = Tensor.randn([2, 3, 5, 5]);
    const R = Tensor.randn([2, 4, 5, 5]);
    const loss = () => {
      const y = layer.forward(x);
      let s = 0;
      for (let i = 0; i < y.numel; i++) s += y.data[i] * R.data[i];
      return s;
    };
    layer.forward(x).backward(R);
    for (const [name, p] of layer.namedParameters()) {
      expect(p.grad).not.toBeNull();
      expect(Array.from(p.grad!.data).some((v) => v !== 0)).toBe(true);
      // Central differences on a few entries of each parameter.
      for (const i of [0, Math.floor(p.numel / 2), p.numel - 1]) {
        const v = p.data[i];
        const eps = 1e-2;
        p.data[i] = v + eps;
        const up = loss();
        p.data[i] = v - eps;
        const down = loss();
        p.data[i] = v;
        const fd = (up - down) / (2 * eps);
        const g = p.grad!.data[i];
        if (Math.abs(fd - g) > 2e-2 * (1 + Math.abs(fd)))
          throw new Error(`${name}[${i}]: autograd ${g} vs finite difference ${fd}`);
      }
    }
  });

  test('bad options', () => {
    expect(() => new DynamicConv2d(6, 8, { kernelSize: 3, groups: 4 })).toThrow(ArgumentError);
    expect(() => new DynamicConv2d(6, 8, { kernelSize: 3, experts: 0 })).toThrow(/experts/);
    expect(() => new DynamicConv2d(6, 8, { kernelSize: 3, routing: 'relu' as 'softmax' })).toThrow(/routing/);
    expect(() => new DynamicConv2d(6, 8, { kernelSize: 3, temperature: 0 })).toThrow(/temperature/);
    const layer = new DynamicConv2d(6, 8, { kernelSize: 3 });
    expect(() => {
      layer.temperature = -1;
    }).toThrow(ArgumentError);
    expect(() => layer.forward(Tensor.zeros([1, 5, 4, 4]))).toThrow(ShapeError);
  });
});

describe('temperature schedule', () => {
  test('linear annealing 30 -> 1 over 10 epochs', () => {
    expect(linearTemperature(0)).toBe(30);
    expect(linearTemperature(5)).toBeCloseTo(15.5, 10);
    expect(linearTemperature(10)).toBe(1);
    expect(linearTemperature(50)).toBe(1);
    expect(linearTemperature(2, { start: 10, end: 2, epochs: 4 })).toBeCloseTo(6, 10);
  });

  test('TemperatureSchedule sets every DynamicConv2d of a model', () => {
    const net = new DynamicNet({ widths: [4, 8, 8, 8] });
    const schedule = new TemperatureSchedule(net, { start: 30, end: 1, epochs: 2 });
    const temps = () => net.stages.map((b) => b.conv.temperature);
    expect(temps()).toEqual([30, 30, 30]);
    expect(schedule.step()).toBeCloseTo(15.5, 10);
    expect(temps()).toEqual([15.5, 15.5, 15.5]);
    schedule.step();
    expect(temps()).toEqual([1, 1, 1]);
    expect(setTemperature(net, 4)).toBe(3);
    expect(() => new TemperatureSchedule(new nn.Linear(2, 2))).toThrow(/no DynamicConv2d/);
  });
});

describe('DynamicNet', () => {
  test('trains at batch size 1: output shape, finite gradients on every parameter, loss goes down', () => {
    manualSeed(4);
    const net = new DynamicNet({ inChannels: 3, numClasses: 5, widths: [8, 8, 16, 16], temperature: 5 });
    net.train();
    expect(net.stages.length).toBe(3);
    const x = Tensor.randn([1, 3, 16, 16]);
    const target = Tensor.from([0, 1, 0, 0, 0], [1, 5]);
    const lossOf = () => {
      const d = ops.sub(net.forward(x), target);
      return ops.sum(ops.mul(d, d));
    };
    const first = lossOf();
    expect(Number.isFinite(first.item())).toBe(true);
    let last = first.item();
    for (let step = 0; step < 5; step++) {
      net.zeroGrad();
      const loss = lossOf();
      loss.backward();
      for (const p of net.parameters()) {
        expect(p.grad).not.toBeNull();
        expect(Array.from(p.grad!.data).every(Number.isFinite)).toBe(true);
        p.data.forEach((v, i, a) => {
          a[i] = v - 0.05 * p.grad!.data[i];
        });
      }
      last = loss.item();
    }
    expect(last).toBeLessThan(first.item());
    net.eval();
    expect(net.forward(Tensor.randn([2, 3, 16, 16])).shape).toEqual([2, 5]);
  });
});
