import { ops, Tensor, ShapeError, ArgumentError, manualSeed, setNumThreads, getNumThreads } from '../lib';
import { expectClose, forEachIsa } from './helpers';
import { gradcheck } from './gradcheck';
import { refBinary } from './reference/pointwise';

const F = {
  add: (a: number, b: number) => a + b,
  sub: (a: number, b: number) => a - b,
  mul: (a: number, b: number) => a * b,
  div: (a: number, b: number) => a / b,
};

// Pairs of shapes that broadcast: trailing alignment, size-1 stretching, rank differences, 0-d.
const broadcastCases: [number[], number[]][] = [
  [
    [2, 3],
    [2, 3],
  ],
  [[2, 3], [3]],
  [[3], [2, 3]],
  [
    [2, 1, 4],
    [3, 1],
  ],
  [[1], [5, 1, 3]],
  [
    [4, 1, 5, 1],
    [1, 3, 1, 2],
  ],
  [[], [2, 3]],
  [[2, 3], []],
  [
    [7, 1],
    [1, 9],
  ],
  [
    [2, 3, 1, 1],
    [1, 3, 5, 5],
  ], // bias-like
];

function positive(shape: number[]): Tensor {
  const t = Tensor.rand(shape, { low: 0.5, high: 2 });
  return t;
}

describe('binary ops with broadcasting against a float64 reference', () => {
  beforeEach(() => manualSeed(11));
  for (const name of ['add', 'sub', 'mul', 'div'] as const) {
    test(`${name}: every broadcast pattern`, () => {
      for (const [sa, sb] of broadcastCases) {
        const a = Tensor.randn(sa);
        const b = name === 'div' ? positive(sb) : Tensor.randn(sb);
        const out = ops[name](a, b);
        const want = refBinary(F[name], a.data, sa, b.data, sb);
        expect(out.shape).toEqual(want.shape);
        expectClose(out.data, want.data, 1e-6, 1e-6);
      }
    });
  }

  test('large tensors take the threaded path and agree at 1 and 2 threads', () => {
    const threads = getNumThreads();
    try {
      const a = Tensor.randn([8, 64, 33, 31]);
      const b = Tensor.randn([1, 64, 1, 1]);
      setNumThreads(1);
      const one = ops.mul(a, b).toArray();
      setNumThreads(2);
      const two = ops.mul(a, b).toArray();
      expect(two).toEqual(one);
      expectClose(two, refBinary(F.mul, a.data, a.shape, b.data, b.shape).data, 1e-6, 1e-6);
      const c = Tensor.randn([70000]);
      expectClose(
        ops.add(c, c).data,
        Array.from(c.data, (v) => 2 * v),
        1e-6,
        0,
      );
    } finally {
      setNumThreads(threads);
    }
  });

  test('number operands', () => {
    const a = Tensor.from([1, -2, 3]);
    expect(ops.add(a, 2).toArray()).toEqual([3, 0, 5]);
    expect(ops.sub(a, 1).toArray()).toEqual([0, -3, 2]);
    expect(ops.mul(a, -2).toArray()).toEqual([-2, 4, -6]);
    expect(ops.div(a, 2).toArray()).toEqual([0.5, -1, 1.5]);
    expect(ops.scale(a, 3).toArray()).toEqual([3, -6, 9]);
    expect(ops.neg(a).toArray()).toEqual([-1, 2, -3]);
  });

  test('shapes that cannot broadcast raise a ShapeError naming a and b', () => {
    expect(() => ops.add(Tensor.zeros([2, 3]), Tensor.zeros([4]))).toThrow(ShapeError);
    expect(() => ops.mul(Tensor.zeros([2, 3]), Tensor.zeros([3, 2]))).toThrow(
      'mul: expected a and b to have broadcastable shapes but received [2, 3] and [3, 2]',
    );
    expect(() => ops.add(Tensor.zeros([2]), 'x' as unknown as number)).toThrow(ArgumentError);
    expect(() => ops.sub(null as unknown as Tensor, 1)).toThrow('sub: expected a to be a Tensor but received null');
    expect(() => ops.mul(Tensor.zeros([2]), NaN)).toThrow(ArgumentError);
  });
});

describe('binary op gradients (finite differences, reduced to each input shape)', () => {
  beforeEach(() => manualSeed(12));
  for (const name of ['add', 'sub', 'mul', 'div'] as const) {
    test(name, () => {
      for (const [sa, sb] of [
        [[2, 3], [3]],
        [
          [2, 1, 3],
          [4, 1],
        ],
        [[3], []],
        [
          [1, 3, 2, 2],
          [2, 3, 1, 1],
        ],
      ] as [number[], number[]][]) {
        const a = Tensor.randn(sa, { requiresGrad: true });
        const b = (name === 'div' ? positive(sb) : Tensor.randn(sb)).requireGrad();
        gradcheck((x, y) => ops[name](x, y), [a, b]);
        expect(a.grad!.shape).toEqual(sa);
        expect(b.grad!.shape).toEqual(sb);
      }
    });
  }
  test('scalar forms', () => {
    const a = Tensor.randn([3, 2], { requiresGrad: true });
    gradcheck((x) => ops.div(ops.sub(ops.mul(ops.add(x, 1), 3), 2), 4), [a]);
    gradcheck((x) => ops.scale(ops.neg(x), 0.5), [a]);
  });
  test('the same tensor on both sides', () => {
    const a = Tensor.randn([4], { requiresGrad: true });
    gradcheck((x) => ops.mul(x, x), [a]);
    a.grad = null;
    ops.sum(ops.mul(a, a)).backward();
    expectClose(
      a.grad!.data,
      Array.from(a.data, (v) => 2 * v),
      1e-5,
      1e-5,
    );
  });
});

describe('unary math ops', () => {
  beforeEach(() => manualSeed(13));
  const cases: [string, (x: Tensor) => Tensor, (v: number) => number, [number, number]][] = [
    ['exp', ops.exp, Math.exp, [-3, 3]],
    ['log', ops.log, Math.log, [0.2, 4]],
    ['sqrt', ops.sqrt, Math.sqrt, [0.2, 4]],
    ['abs', ops.abs, Math.abs, [-2, 2]],
    ['pow 3', (x) => ops.pow(x, 3), (v) => v ** 3, [-2, 2]],
    ['pow 0.5', (x) => ops.pow(x, 0.5), (v) => v ** 0.5, [0.2, 3]],
    ['pow -2', (x) => ops.pow(x, -2), (v) => v ** -2, [0.5, 3]],
    ['clamp', (x) => ops.clamp(x, -0.5, 0.7), (v) => Math.min(Math.max(v, -0.5), 0.7), [-2, 2]],
    ['clamp min only', (x) => ops.clamp(x, 0), (v) => Math.max(v, 0), [-2, 2]],
  ];
  for (const [name, f, ref, [low, high]] of cases) {
    test(`${name}: forward and gradient`, () => {
      const x = Tensor.rand([5, 7], { low, high });
      // Keep finite differences away from kinks.
      const d = x.data;
      for (let i = 0; i < d.length; i++) for (const k of [0, -0.5, 0.7]) if (Math.abs(d[i] - k) < 0.03) d[i] = k + 0.05;
      expectClose(f(x).data, Array.from(d, ref), 1e-6, 2e-6);
      x.requireGrad();
      gradcheck(f, [x]);
    });
  }
  // log, tanh and softplus run on the library's own vector formulas (math/pointwise.h: vlogf,
  // vtanhf, vlog1pf), not libm: checked in units in the last place of the float64 result, over
  // the whole float range, with PyTorch's special values.
  const ulpsOff = (got: number, exact: number): number => {
    const ref = Math.fround(exact);
    if (Object.is(got, ref)) return 0;
    const ulp = ref === 0 ? 2 ** -149 : 2 ** Math.max(-149, Math.floor(Math.log2(Math.abs(ref))) - 23);
    return Math.abs(got - exact) / ulp;
  };
  const worstUlps = (f: (x: Tensor) => Tensor, xs: number[], exact: (v: number) => number): number => {
    const got = f(Tensor.from(xs)).data;
    return Math.max(...xs.map((v, i) => ulpsOff(got[i], exact(v))));
  };
  const logSpaced = (from: number, to: number, step: number): number[] => {
    const out: number[] = [];
    for (let e = from; e <= to; e += step) out.push(Math.fround(2 ** e));
    return out;
  };

  test('log from the smallest subnormal to the largest float: within 2 ulp; 0, negatives, inf and NaN as PyTorch', () => {
    const xs = [...logSpaced(-149, 127.9, 0.173), ...Array.from({ length: 200 }, (_, i) => Math.fround(0.5 + i / 199))];
    forEachIsa(() => {
      expect(worstUlps(ops.log, xs, Math.log)).toBeLessThanOrEqual(2);
      const special = ops.log(Tensor.from([0, -0, -1, -Infinity, Infinity, NaN])).toArray();
      expect(special).toEqual([-Infinity, -Infinity, NaN, NaN, Infinity, NaN]);
    });
  });

  test('tanh from subnormals to saturation: within 3 ulp; -0, inf and NaN as PyTorch', () => {
    const positive = [...logSpaced(-149, 6, 0.0913), 0.625, Math.fround(0.62499), 9, 44, 100, 3e38];
    const xs = [...positive, ...positive.map((v) => -v)];
    forEachIsa(() => {
      expect(worstUlps(ops.tanh, xs, Math.tanh)).toBeLessThanOrEqual(3);
      const special = ops.tanh(Tensor.from([-0, Infinity, -Infinity, NaN])).toArray();
      expect(Object.is(special[0], -0)).toBe(true);
      expect(special.slice(1)).toEqual([1, -1, NaN]);
    });
  });

  test('softplus across the float range: within 3 ulp of log1p(exp(x)) (x past the threshold as is), inf and NaN', () => {
    const xs = Array.from({ length: 601 }, (_, i) => Math.fround(-110 + i * 0.217));
    const exact = (v: number): number => (v > 20 ? v : Math.log1p(Math.exp(v)));
    forEachIsa(() => {
      expect(worstUlps((x) => ops.softplus(x), xs, exact)).toBeLessThanOrEqual(3);
      expect(ops.softplus(Tensor.from([Infinity, -Infinity, NaN]), { threshold: 1e30 }).toArray()).toEqual([
        Infinity,
        0,
        NaN,
      ]);
    });
  });

  test("pow with the exponents PyTorch computes by products and roots (2, 3, 0.5, -0.5, -1, -2): PyTorch's formulas, bit for bit", () => {
    const xs = [0.1, 0.7, 1.3, 2.9, 17.5, -0.4, -3.3, 0, -0, 1e-30, Infinity, NaN].map(Math.fround);
    const f32 = Math.fround;
    const formulas: [number, (v: number) => number][] = [
      [2, (v) => f32(v * v)],
      [3, (v) => f32(f32(v * v) * v)],
      [0.5, (v) => f32(Math.sqrt(v))],
      [-0.5, (v) => f32(1 / f32(Math.sqrt(v)))],
      [-1, (v) => f32(1 / v)],
      [-2, (v) => f32(1 / f32(v * v))],
    ];
    forEachIsa(() => {
      for (const [a, formula] of formulas) {
        expect(ops.pow(Tensor.from(xs), a).toArray()).toEqual(xs.map(formula));
      }
    });
  });

  test('clamp rejects bad bounds', () => {
    expect(() => ops.clamp(Tensor.zeros([1]), 2, 1)).toThrow('clamp: expected min <= max');
    expect(() => ops.pow(Tensor.zeros([1]), '2' as unknown as number)).toThrow(ArgumentError);
  });
});

describe('in-place helpers', () => {
  test('fill_, copy_ (with broadcasting), zerosLike, onesLike, fullLike', () => {
    const t = Tensor.randn([2, 3]);
    expect(ops.fill_(t, 4).toArray()).toEqual([4, 4, 4, 4, 4, 4]);
    ops.copy_(t, Tensor.from([1, 2, 3]));
    expect(t.toArray()).toEqual([1, 2, 3, 1, 2, 3]);
    expect(() => ops.copy_(t, Tensor.zeros([2]))).toThrow(ShapeError);
    expect(ops.zerosLike(t).toArray()).toEqual([0, 0, 0, 0, 0, 0]);
    expect(ops.onesLike(t).shape).toEqual([2, 3]);
    expect(ops.fullLike(t, -2).toArray()).toEqual([-2, -2, -2, -2, -2, -2]);
  });
  test('addInPlace: same shape, broadcast, and flat same-size views', () => {
    const a = Tensor.from([1, 2, 3, 4], [2, 2]);
    ops.addInPlace(a, Tensor.from([10, 20, 30, 40], [2, 2]));
    expect(a.toArray()).toEqual([11, 22, 33, 44]);
    ops.addInPlace(a, Tensor.from([1, 2]));
    expect(a.toArray()).toEqual([12, 24, 34, 46]);
    ops.addInPlace(a, Tensor.from([1, 1, 1, 1]));
    expect(a.toArray()).toEqual([13, 25, 35, 47]);
    expect(() => ops.addInPlace(a, Tensor.zeros([3]))).toThrow(ShapeError);
  });
  test('gradients accumulate across two backward passes', () => {
    const x = Tensor.from([1, 2, 3], [3], { requiresGrad: true });
    ops.sum(ops.mul(x, 2)).backward();
    ops.sum(ops.mul(x, 3)).backward();
    expect(x.grad!.toArray()).toEqual([5, 5, 5]);
  });
});

describe('expand and sumTo', () => {
  test('expand broadcasts and its gradient sums back', () => {
    const x = Tensor.randn([3, 1], { requiresGrad: true });
    const y = ops.expand(x, [2, 3, 4]);
    expect(y.shape).toEqual([2, 3, 4]);
    expect(y.toArray()[5]).toBeCloseTo(x.data[1], 6);
    gradcheck((t) => ops.expand(t, [2, 3, 4]), [x]);
    expect(() => ops.expand(x, [2, 4])).toThrow(ShapeError);
  });
  test('sumTo reduces leading and size-1 dimensions', () => {
    const x = Tensor.ones([2, 3, 4]);
    expect(ops.sumTo(x, [3, 1]).toArray()).toEqual([8, 8, 8]);
    expect(ops.sumTo(x, []).toArray()).toEqual([24]);
    expect(() => ops.sumTo(x, [2])).toThrow(ShapeError);
  });
});
