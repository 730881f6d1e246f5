import { ops, Tensor, ArgumentError, manualSeed, setNumThreads, getNumThreads } from '../lib';
import { expectClose } from './helpers';
import { gradcheck } from './gradcheck';
import { refSum, numel } from './reference/pointwise';

function dropped(shape: number[], dims: number[]): number[] {
  return shape.filter((_, i) => !dims.includes(i));
}

describe('sum and mean over dimension sets', () => {
  beforeEach(() => manualSeed(31));
  const cases: [number[], number[]][] = [
    [[5], [0]],
    [[3, 4], [0]],
    [[3, 4], [1]],
    [
      [3, 4],
      [0, 1],
    ],
    [
      [2, 3, 4, 5],
      [0, 2, 3],
    ], // batch-norm / bias gradient pattern
    [[2, 3, 4, 5], [1]],
    [
      [2, 3, 4, 5],
      [0, 2],
    ],
    [
      [2, 3, 4, 5],
      [1, 3],
    ],
    [
      [2, 1, 4, 1],
      [1, 2],
    ],
    [[7, 300], [0]], // column sums longer than a chunk
    [[3, 0, 2], [1]], // empty reduced dimension
  ];
  for (const [shape, dims] of cases) {
    test(`shape [${shape}] dims [${dims}]`, () => {
      const x = Tensor.randn(shape);
      const want = refSum(x.data, shape, dims);
      const s = ops.sum(x, dims);
      expect(s.shape).toEqual(dropped(shape, dims));
      expectClose(s.data, want.data, 1e-5, 1e-5);
      const k = ops.sum(x, dims, true);
      expect(k.shape).toEqual(want.shape);
      const count = dims.reduce((a, d) => a * shape[d], 1);
      const m = ops.mean(x, dims, true);
      if (count > 0)
        expectClose(
          m.data,
          Array.from(want.data, (v) => v / count),
          1e-6,
          1e-5,
        );
      else expect(m.toArray().every(Number.isNaN)).toBe(true); // empty mean is NaN, as in PyTorch
    });
  }

  test('negative dims, a single number, and everything', () => {
    const x = Tensor.randn([2, 3, 4]);
    // Dimension -1 is dimension 2: sums of each row of 4, in float64.
    const rows = Array.from({ length: 6 }, (_, r) => x.data.subarray(4 * r, 4 * r + 4).reduce((a, v) => a + v, 0));
    expectClose(ops.sum(x, -1).data, rows, 1e-6, 1e-6);
    expect(ops.sum(x, -1).shape).toEqual([2, 3]);
    const all = ops.sum(x);
    expect(all.shape).toEqual([]);
    expectClose(all.data, [x.toArray().reduce((a, b) => a + b, 0)], 1e-5, 1e-5);
    expect(ops.mean(x, null, true).shape).toEqual([1, 1, 1]);
  });

  test('a long full sum is accurate and identical at 1 and 2 threads', () => {
    const threads = getNumThreads();
    try {
      const x = Tensor.rand([1 << 18], { low: 0, high: 1 });
      let exact = 0;
      for (const v of x.data) exact += v;
      setNumThreads(1);
      const one = ops.sum(x).item();
      setNumThreads(2);
      const two = ops.sum(x).item();
      expect(two).toBe(one);
      expect(Math.abs(one - exact) / exact).toBeLessThan(1e-6);
      const y = Tensor.randn([4, 32, 20, 20]);
      setNumThreads(1);
      const a = ops.sum(y, [0, 2, 3]).toArray();
      setNumThreads(2);
      expect(ops.sum(y, [0, 2, 3]).toArray()).toEqual(a);
      expectClose(a, refSum(y.data, y.shape, [0, 2, 3]).data, 1e-3, 1e-5);
    } finally {
      setNumThreads(threads);
    }
  });

  test('gradients (finite differences)', () => {
    for (const [shape, dims] of [
      [[2, 3, 4], [1]],
      [
        [2, 3, 4],
        [0, 2],
      ],
      [[3, 2], undefined],
    ] as [number[], number[] | undefined][]) {
      const x = Tensor.randn(shape, { requiresGrad: true });
      gradcheck((t) => ops.sum(t, dims), [x]);
      gradcheck((t) => ops.mean(t, dims, true), [x]);
      expect(numel(x.grad!.shape)).toBe(numel(shape));
    }
  });

  test('bad dims and keepDim raise typed errors naming the argument', () => {
    const x = Tensor.zeros([2, 3]);
    expect(() => ops.sum(x, 2)).toThrow('sum: expected dims to be an integer in [-2, 1] but received 2 of type number');
    expect(() => ops.mean(x, [0, 0])).toThrow('mean: expected dims to hold distinct dimensions');
    expect(() => ops.sum(x, [0.5])).toThrow(ArgumentError);
    expect(() => ops.sum(x, 0, 'yes' as unknown as boolean)).toThrow('sum: expected keepDim to be a boolean');
  });
});

describe('argmax', () => {
  test('along each dimension, first maximum on ties', () => {
    const x = Tensor.from([1, 5, 5, 2, 0, 9, 3, 3, 1, 1, 8, 8], [2, 2, 3]);
    expect(ops.argmax(x, 2).toArray()).toEqual([1, 2, 0, 1]);
    expect(ops.argmax(x, 1).toArray()).toEqual([1, 0, 1, 0, 1, 1]);
    expect(ops.argmax(x, 0, true).shape).toEqual([1, 2, 3]);
    expect(() => ops.argmax(x, 3)).toThrow(ArgumentError);
  });

  test("every dimension of a 4-D tensor with ties, -inf and NaN: PyTorch's rules (first maximum, first NaN), at 1 and 2 threads", () => {
    const shape = [3, 5, 7, 40]; // inner extents up to 1400: more than one chunk of positions
    const values = [-1, 0, 0.5, 2, 2, -Infinity, 7];
    const data = Array.from({ length: 3 * 5 * 7 * 40 }, (_, i) => values[(i * 7919 + (i >> 3)) % values.length]);
    for (const i of [17, 40 * 7 * 2 + 3, 401, 402, 3333, 4000]) data[i] = NaN;
    const x = Tensor.from(data, shape);
    const naive = (dim: number): number[] => {
      const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
      const n = shape[dim];
      const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      const out: number[] = [];
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          let best = 0;
          for (let k = 1; k < n; k++) {
            const v = data[(o * n + k) * inner + i],
              b = data[(o * n + best) * inner + i];
            if (Number.isNaN(b)) break;
            if (v > b || Number.isNaN(v)) best = k;
          }
          out.push(best);
        }
      }
      return out;
    };
    const saved = getNumThreads();
    try {
      for (const threads of [1, 2]) {
        setNumThreads(threads);
        for (let dim = 0; dim < 4; dim++) expect(ops.argmax(x, dim).toArray()).toEqual(naive(dim));
      }
    } finally {
      setNumThreads(saved);
    }
  });
});
