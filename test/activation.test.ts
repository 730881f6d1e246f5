import { ops, Tensor, manualSeed } from '../lib';
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
];

describe('activations', () => {
  beforeEach(() => manualSeed(21));
  for (const [name, f, ref] of cases) {
    test(`${name}: forward against float64, gradient against finite differences`, () => {
      const x = Tensor.randn([3, 5, 7], { std: 2 });
      const d = x.data;
      for (let i = 0; i < d.length; i++) if (Math.abs(d[i]) < 0.03) d[i] = 0.1; // away from the kink at 0
      expectClose(f(x).data, Array.from(d, ref), 1e-6, 1e-5);
      x.requireGrad();
      gradcheck(f, [x]);
    });
  }

  test('NaN propagates through every activation (as in PyTorch)', () => {
    const x = Tensor.from([NaN]);
    for (const f of [ops.relu, ops.sigmoid, ops.tanh, ops.silu, (t: Tensor) => ops.leakyRelu(t)]) {
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
    expectClose(y.data, Array.from(x.data, (v) => v * sig(v)), 1e-6, 1e-5);
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
    expectClose(sig, Array.from(x.data, (v) => 1 / (1 + Math.exp(-v))), 1e-7, 1e-6);
  });
});
