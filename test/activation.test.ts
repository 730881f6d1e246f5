import { ArgumentError, exportOnnx, manualSeed, nn, OnnxModel, ops, Tensor } from '../lib';
import { expectClose, forEachIsa } from './helpers';
import { gradcheck } from './gradcheck';

const sig = (v: number): number => 1 / (1 + Math.exp(-v));
const cases: [string, (x: Tensor) => Tensor, (v: number) => number][] = [
  ['relu', ops.relu, (v) => Math.max(v, 0)],
  ['leakyRelu default slope', (x) => ops.leakyRelu(x), (v) => (v > 0 ? v : 0.01 * v)],
  ['leakyRelu 0.2', (x) => ops.leakyRelu(x, 0.2), (v) => (v > 0 ? v : 0.2 * v)],
  ['sigmoid', ops.sigmoid, sig],
  ['tanh', ops.tanh, Math.tanh],
  ['silu', ops.silu, (v) => v * sig(v)],
  ['softplus', (x) => ops.softplus(x), (v) => (v > 20 ? v : Math.log1p(Math.exp(v)))],
  [
    'softplus beta 2 threshold 5',
    (x) => ops.softplus(x, { beta: 2, threshold: 5 }),
    (v) => (2 * v > 5 ? v : Math.log1p(Math.exp(2 * v)) / 2),
  ],
];

/** A one-op model, to export an op alone. */
class SoftplusModel extends nn.Module {
  constructor(private readonly options: ops.SoftplusOptions) {
    super();
  }

  forward(x: Tensor): Tensor {
    return ops.softplus(x, this.options);
  }
}

describe('activations', () => {
  beforeEach(() => manualSeed(21));
  for (const [name, f, ref] of cases) {
    test(`${name}: forward against float64, gradient against finite differences`, () => {
      const x = Tensor.randn([3, 5, 7], { std: 2 });
      const d = x.data;
      // Away from the kinks (0) and softplus' threshold jump (beta x = 5 at x = 2.5), which finite
      // differences with steps of 0.01 would straddle.
      for (let i = 0; i < d.length; i++) {
        for (const kink of [0, 2.5]) if (Math.abs(d[i] - kink) < 0.05) d[i] = kink + 0.1;
      }
      expectClose(f(x).data, Array.from(d, ref), 1e-6, 1e-5);
      x.requireGrad();
      gradcheck(f, [x]);
    });
  }

  test('NaN propagates through every activation (as in PyTorch)', () => {
    const x = Tensor.from([NaN]);
    for (const f of [ops.relu, ops.sigmoid, ops.tanh, ops.silu, (t: Tensor) => ops.leakyRelu(t), ops.softplus]) {
      expect(Number.isNaN(f(x).item())).toBe(true);
    }
  });

  test('sigmoid, tanh and silu stay finite for huge inputs', () => {
    const x = Tensor.from([-1e4, -100, -30, 30, 100, 1e4]);
    for (const f of [ops.sigmoid, ops.tanh, ops.silu]) {
      for (const v of f(x).toArray()) expect(Number.isFinite(v)).toBe(true);
    }
    expect(ops.sigmoid(x).toArray()).toEqual([0, expect.any(Number), expect.any(Number), 1, 1, 1]);
    const xg = Tensor.from([-1e4, 1e4], [2], { requiresGrad: true });
    ops.sum(ops.sigmoid(xg)).backward();
    expect(xg.grad!.toArray()).toEqual([0, 0]);
  });

  test('large inputs use the threaded path and match the small-path result', () => {
    const x = Tensor.randn([100003]);
    const y = ops.silu(x);
    expectClose(
      y.data,
      Array.from(x.data, (v) => v * sig(v)),
      1e-6,
      1e-5,
    );
  });

  test('the portable, AVX2 and AVX-512 builds of the loops agree (forward and gradient)', () => {
    const x = Tensor.randn([5, 1001], { std: 4 });
    const results: number[][][] = [];
    forEachIsa(() => {
      const xg = x.clone().requireGrad();
      const outs = [ops.sigmoid, ops.silu, ops.exp, ops.relu, ops.tanh].map((f) => f(xg));
      ops.sum(ops.add(ops.add(outs[0], outs[1]), outs[3])).backward();
      results.push([...outs.map((o) => o.toArray()), xg.grad!.toArray()]);
    });
    for (let k = 1; k < results.length; k++) {
      results[k].forEach((r, i) => expectClose(r, results[0][i], 1e-6, 1e-6));
    }
    const sig = results[0][0];
    expectClose(
      sig,
      Array.from(x.data, (v) => 1 / (1 + Math.exp(-v))),
      1e-7,
      1e-6,
    );
  });

  test('softplus: ONNX Runtime runs the exported form (beta, threshold) and agrees', async () => {
    for (const options of [{}, { beta: 2, threshold: 5 }, { beta: 0.5, threshold: 3 }]) {
      const x = Tensor.randn([2, 3, 40], { std: 10 }); // both sides of every threshold
      const model = await OnnxModel.load(exportOnnx(new SoftplusModel(options), x));
      const fromOrt = await model.runTensor(x);
      expectClose(fromOrt.data, ops.softplus(x, options).data, 1e-6, 1e-5);
    }
  });

  test('softplus refuses bad options with the argument named', () => {
    const x = Tensor.randn([4]);
    expect(() => ops.softplus(x, { beta: 0 })).toThrow(/beta to be non-zero/);
    expect(() => ops.softplus(x, { beta: NaN })).toThrow(ArgumentError);
    expect(() => ops.softplus(x, { threshold: '5' as unknown as number })).toThrow(/threshold to be a finite number/);
    expect(() => ops.softplus(x, { betta: 2 } as ops.SoftplusOptions)).toThrow(/betta/);
  });
});
