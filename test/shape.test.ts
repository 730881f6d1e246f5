import { ops, Tensor, ArgumentError, ShapeError, manualSeed, availableIsas, isa, setIsa } from '../lib';
import { expectClose } from './helpers';
import { gradcheck } from './gradcheck';
import { refPermute } from './reference/pointwise';

describe('reshape and flatten', () => {
  test('views with -1 inference, gradient reshaped back', () => {
    const x = Tensor.randn([2, 3, 4], { requiresGrad: true });
    const y = ops.reshape(x, [4, -1]);
    expect(y.shape).toEqual([4, 6]);
    expect(y.toArray()).toEqual(x.toArray());
    gradcheck((t) => ops.reshape(t, [-1]), [x]);
    expect(ops.flatten(x).shape).toEqual([2, 12]);
    expect(ops.flatten(x, 0).shape).toEqual([24]);
    expect(ops.flatten(x, 0, 1).shape).toEqual([6, 4]);
    expect(ops.flatten(Tensor.zeros([2, 3, 4, 5]), 1, 2).shape).toEqual([2, 12, 5]);
  });
  test('bad sizes', () => {
    const x = Tensor.zeros([2, 3]);
    expect(() => ops.reshape(x, [4, 2])).toThrow(ShapeError);
    expect(() => ops.reshape(x, [1.5, 4])).toThrow(ArgumentError);
    expect(() => ops.reshape(x, [-1, 4])).toThrow(ShapeError);
    expect(() => ops.flatten(x, 3)).toThrow('flatten: expected startDim to be an integer in [-2, 1]');
    expect(() => ops.flatten(x, 1, 0)).toThrow(ArgumentError);
  });
});

describe('permute', () => {
  beforeEach(() => manualSeed(41));
  test('against the reference for several orders, with gradient', () => {
    const shape = [2, 3, 4, 5];
    const x = Tensor.randn(shape, { requiresGrad: true });
    for (const dims of [
      [0, 2, 3, 1],
      [3, 2, 1, 0],
      [1, 0, 2, 3],
      [0, 1, 2, 3],
      [-1, 0, 1, 2],
    ]) {
      const y = ops.permute(x, dims);
      const norm = dims.map((d) => (d < 0 ? d + 4 : d));
      expect(y.shape).toEqual(norm.map((d) => shape[d]));
      expectClose(y.data, refPermute(x.data, shape, norm), 0, 0);
    }
    gradcheck((t) => ops.permute(t, [2, 0, 3, 1]), [x]);
  });
  describe.each(availableIsas())('moving the contiguous dimension (blocked transposes), %s', (path) => {
    const saved = isa();
    beforeAll(() => setIsa(path));
    afterAll(() => setIsa(saved.active));
    // Sides of 8 and more take 8 x 8 register blocks and 64 x 64 tasks; 70, 13, 19 and 67
    // leave ragged blocks on both sides, and a side under 8 takes the row loop.
    test.each([
      [
        [2, 19, 13, 70],
        [0, 2, 3, 1],
      ],
      [
        [2, 13, 70, 19],
        [0, 3, 1, 2],
      ],
      [
        [3, 9, 17, 11],
        [3, 2, 1, 0],
      ],
      [
        [5, 16, 3, 24],
        [1, 3, 0, 2],
      ],
      [
        [67, 130],
        [1, 0],
      ],
      [
        [2, 3, 20, 9, 33],
        [0, 4, 1, 3, 2],
      ],
      [
        [4, 7, 40],
        [2, 0, 1],
      ],
    ])('shape %j, dims %j: exactly the reference', (shape, dims) => {
      const x = Tensor.randn(shape);
      expectClose(ops.permute(x, dims).data, refPermute(x.data, shape, dims), 0, 0);
    });
  });
  test('bad dims', () => {
    const x = Tensor.zeros([2, 3]);
    expect(() => ops.permute(x, [0])).toThrow(ArgumentError);
    expect(() => ops.permute(x, [0, 0])).toThrow('permute: expected dims to be a permutation of 0..1');
    expect(() => ops.permute(x, [0, 2])).toThrow(ArgumentError);
  });
});

describe('concat, split, slice', () => {
  beforeEach(() => manualSeed(42));
  test('concat along every dimension matches manual assembly; gradients', () => {
    const a = Tensor.randn([2, 3, 2], { requiresGrad: true });
    const b = Tensor.randn([2, 1, 2], { requiresGrad: true });
    const y = ops.concat([a, b], 1);
    expect(y.shape).toEqual([2, 4, 2]);
    const want: number[] = [];
    for (let n = 0; n < 2; n++) {
      want.push(...a.toArray().slice(n * 6, n * 6 + 6), ...b.toArray().slice(n * 2, n * 2 + 2));
    }
    expect(y.toArray()).toEqual(want);
    expect(ops.concat([a, a], 0).toArray()).toEqual([...a.toArray(), ...a.toArray()]);
    expect(ops.concat([a, a], -1).shape).toEqual([2, 3, 4]);
    gradcheck((p, q) => ops.concat([p, q, p], 1), [a, b]);
  });
  test('concat errors', () => {
    expect(() => ops.concat([], 0)).toThrow(ArgumentError);
    expect(() => ops.concat([Tensor.zeros([2, 3]), Tensor.zeros([3, 3])], 1)).toThrow(
      'concat: expected tensors[1] to match tensors[0] (shape [2, 3]) except in dimension 1 but received shape [3, 3]',
    );
    expect(() => ops.concat([Tensor.zeros([2])], 1)).toThrow(ArgumentError);
  });
  test('slice with negative and clamped indices; gradient', () => {
    const x = Tensor.arange(0, 24).view([2, 3, 4]);
    expect(ops.slice(x, 2, 1, 3).toArray()).toEqual([1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22]);
    expect(ops.slice(x, 1, -1).shape).toEqual([2, 1, 4]);
    expect(ops.slice(x, 0, 1, 100).toArray()).toEqual(x.toArray().slice(12));
    expect(ops.slice(x, 0, 2, 1).shape).toEqual([0, 3, 4]);
    const xg = Tensor.randn([2, 3, 4], { requiresGrad: true });
    gradcheck((t) => ops.slice(t, 1, 1, 3), [xg]);
    expect(() => ops.slice(x, 0, 0.5)).toThrow(
      'slice: expected start to be an integer but received 0.5 of type number',
    );
  });
  test('split by size and by sizes; each piece carries gradient', () => {
    const x = Tensor.randn([2, 5], { requiresGrad: true });
    const parts = ops.split(x, 2, 1);
    expect(parts.map((p) => p.shape)).toEqual([
      [2, 2],
      [2, 2],
      [2, 1],
    ]);
    expect(ops.concat(parts, 1).toArray()).toEqual(x.toArray());
    const uneven = ops.split(x, [1, 0, 4], 1);
    expect(uneven.map((p) => p.shape)).toEqual([
      [2, 1],
      [2, 0],
      [2, 4],
    ]);
    gradcheck(
      (t) => {
        const [p, q] = ops.split(t, [3, 2], 1);
        return ops.mul(ops.slice(p, 1, 0, 2), q);
      },
      [x],
    );
    expect(() => ops.split(x, [2, 2], 1)).toThrow('split: expected sizes to sum to 5');
    expect(() => ops.split(x, 0, 1)).toThrow(ArgumentError);
  });
});
