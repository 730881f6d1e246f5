import { ops, Tensor, ArgumentError, setNumThreads, getNumThreads } from '../lib';
import { Generator } from '../lib/random';

describe('dropout', () => {
  test('identity when not training or p = 0', () => {
    const x = Tensor.randn([10]);
    expect(ops.dropout(x, 0.5, false)).toBe(x);
    expect(ops.dropout(x, 0, true)).toBe(x);
  });

  test('drops about p of the elements, scales the rest by 1/(1-p), reproducible from the seed', () => {
    const x = Tensor.ones([200000]);
    const y = ops.dropout(x, 0.3, true, new Generator(7)).data;
    let zeros = 0;
    let wrong = 0;
    for (const v of y) {
      if (v === 0) zeros++;
      else if (Math.abs(v - 1 / 0.7) > 1e-6) wrong++;
    }
    expect(wrong).toBe(0);
    expect(Math.abs(zeros / y.length - 0.3)).toBeLessThan(0.01);
    const threads = getNumThreads();
    try {
      setNumThreads(1);
      const one = ops.dropout(x, 0.3, true, new Generator(7)).toArray();
      expect(one).toEqual(Array.from(y));
      // The mask depends on the seed, never on the thread count.
      setNumThreads(2);
      expect(ops.dropout(x, 0.3, true, new Generator(7)).toArray()).toEqual(one);
    } finally {
      setNumThreads(threads);
    }
    expect(
      ops
        .dropout(x, 1, true)
        .toArray()
        .every((v) => v === 0),
    ).toBe(true);
  });

  test('gradient uses the same mask', () => {
    const x = Tensor.randn([1000], { requiresGrad: true });
    const y = ops.dropout(x, 0.5, true, new Generator(3));
    ops.sum(y).backward();
    const g = x.grad!.data,
      yd = y.data,
      xd = x.data;
    for (let i = 0; i < 1000; i++) expect(g[i]).toBeCloseTo(yd[i] === 0 ? 0 : 2, 6);
    expect(yd[1]).toBeCloseTo(g[1] * xd[1], 5);
  });

  test('bad arguments', () => {
    const x = Tensor.zeros([2]);
    expect(() => ops.dropout(x, 1.5)).toThrow(
      'dropout: expected p to be a number in [0, 1] but received 1.5 of type number',
    );
    expect(() => ops.dropout(x, 0.5, 'yes' as unknown as boolean)).toThrow(ArgumentError);
    expect(() => ops.dropout(x, 0.5, true, {} as Generator)).toThrow(ArgumentError);
  });
});
