import { ops, Tensor, ArgumentError, ShapeError, manualSeed, getNumThreads, setNumThreads } from '../lib';
import { expectClose } from './helpers';
import { gradcheck } from './gradcheck';
import { refCrossEntropy } from './reference/pointwise';
import { Generator } from '../lib/random';

function classes(shape: number[], C: number, seed: number, ignore?: { index: number; every: number }): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) t[i] = ignore && i % ignore.every === 1 ? ignore.index : g.int(C);
  return Tensor.from(t, shape);
}

describe("crossEntropy against PyTorch's formula (float64 reference)", () => {
  beforeEach(() => manualSeed(61));
  const settings = [
    {},
    { labelSmoothing: 0.1 },
    { reduction: 'sum' as const },
    { reduction: 'none' as const, labelSmoothing: 0.25 },
    { ignoreIndex: -100 },
    { ignoreIndex: 2, labelSmoothing: 0.2 },
    { ignoreIndex: 255, reduction: 'sum' as const, labelSmoothing: 0.05 },
  ];
  for (const [logitShape, targetShape] of [
    [[6, 5], [6]],
    [
      [2, 4, 3, 5],
      [2, 3, 5],
    ],
    [
      [1, 3, 1, 1],
      [1, 1, 1],
    ],
  ]) {
    for (const opts of settings) {
      test(`logits [${logitShape}] ${JSON.stringify(opts)}`, () => {
        const C = logitShape[1];
        const x = Tensor.randn(logitShape, { std: 2 });
        const ignoreIndex = opts.ignoreIndex;
        const t = classes(targetShape, C, 5, ignoreIndex !== undefined ? { index: ignoreIndex, every: 3 } : undefined);
        const loss = ops.crossEntropy(x, t, opts);
        const want = refCrossEntropy(x.data, logitShape, t.data, opts);
        if (opts.reduction !== 'none' && Number.isNaN(want.reduced)) {
          // Every position ignored: 'mean' is 0/0, NaN as in PyTorch.
          expect(Number.isNaN(loss.item())).toBe(true);
          return;
        }
        if (opts.reduction === 'none') {
          expect(loss.shape).toEqual(targetShape);
          expectClose(loss.data, want.perPosition, 1e-5, 1e-5);
        } else {
          expect(loss.shape).toEqual([]);
          expectClose(loss.data, [want.reduced], 1e-5, 1e-5);
        }
        const xg = x.clone().requireGrad();
        gradcheck((l) => ops.crossEntropy(l, t, opts), [xg, t], { check: [true, false] });
      });
    }
  }

  test('stable with huge logits; gradient is softmax minus one-hot over N', () => {
    const x = Tensor.from([1e4, 0, -1e4, 5e3, 5e3, 0], [2, 3], { requiresGrad: true });
    const t = Tensor.from([0, 2]);
    const loss = ops.crossEntropy(x, t);
    // Row 0: loss 0 (certain and right). Row 1: lse = 5000 + log 2, loss = 5000 + log 2.
    expect(loss.item()).toBeCloseTo((0 + 5000 + Math.log(2)) / 2, 1);
    loss.backward();
    expectClose(x.grad!.data, [0, 0, 0, 0.25, 0.25, -0.5], 1e-6, 1e-6);
  });

  test('all positions ignored gives NaN for mean (as PyTorch) and 0 for sum', () => {
    const x = Tensor.randn([2, 3]);
    const t = Tensor.from([-100, -100]);
    expect(Number.isNaN(ops.crossEntropy(x, t).item())).toBe(true);
    expect(ops.crossEntropy(x, t, { reduction: 'sum' }).item()).toBe(0);
  });

  test('bad input: shapes, out-of-range and non-integer classes, options', () => {
    const x = Tensor.randn([2, 3]);
    expect(() => ops.crossEntropy(x, Tensor.from([0, 1, 2]))).toThrow(
      'crossEntropy: expected target of shape [2] for logits of shape [2, 3] but received [3]',
    );
    expect(() => ops.crossEntropy(Tensor.randn([3]), Tensor.from([0]))).toThrow(ShapeError);
    expect(() => ops.crossEntropy(x, Tensor.from([0, 3]))).toThrow(/target element 1 is 3/);
    expect(() => ops.crossEntropy(x, Tensor.from([0, 1.5]))).toThrow(ArgumentError);
    expect(() => ops.crossEntropy(x, Tensor.from([-1, 0]))).toThrow(ArgumentError);
    expect(() => ops.crossEntropy(x, Tensor.from([0, 1]), { labelSmoothing: 1.5 })).toThrow(
      'crossEntropy: expected labelSmoothing to be a number in [0, 1]',
    );
    expect(() => ops.crossEntropy(x, Tensor.from([0, 1]), { reduction: 'avg' as 'mean' })).toThrow(ArgumentError);
    expect(() => ops.crossEntropy(x, Tensor.from([0, 1]), { ignoreIndex: 0.5 })).toThrow(ArgumentError);
  });
});

describe('mseLoss', () => {
  test('reductions and gradients', () => {
    const a = Tensor.randn([3, 4], { requiresGrad: true });
    const b = Tensor.randn([3, 4], { requiresGrad: true });
    let want = 0;
    for (let i = 0; i < 12; i++) want += (a.data[i] - b.data[i]) ** 2;
    expect(ops.mseLoss(a, b).item()).toBeCloseTo(want / 12, 5);
    expect(ops.mseLoss(a, b, { reduction: 'sum' }).item()).toBeCloseTo(want, 4);
    expect(ops.mseLoss(a, b, { reduction: 'none' }).shape).toEqual([3, 4]);
    gradcheck((p, q) => ops.mseLoss(p, q), [a, b]);
    expect(() => ops.mseLoss(a, Tensor.zeros([5]))).toThrow(ShapeError);
  });

  test('the fused CPU pass: blocks of a large odd-sized tensor against float64, every reduction, the same bits at 1 and 2 threads, the broadcast composition alike', () => {
    const a = Tensor.randn([3, 7, 1001]);
    const b = Tensor.randn([3, 7, 1001]);
    let want = 0;
    for (let i = 0; i < a.numel; i++) want += (a.data[i] - b.data[i]) ** 2;
    const saved = getNumThreads();
    try {
      const results = [1, 2].map((threads) => {
        setNumThreads(threads);
        return [ops.mseLoss(a, b).item(), ops.mseLoss(a, b, { reduction: 'sum' }).item()];
      });
      expect(results[1]).toEqual(results[0]);
    } finally {
      setNumThreads(saved);
    }
    expect(Math.abs(ops.mseLoss(a, b).item() - want / a.numel)).toBeLessThan(1e-6 * (want / a.numel));
    expect(Math.abs(ops.mseLoss(a, b, { reduction: 'sum' }).item() - want)).toBeLessThan(1e-6 * want);
    const none = ops.mseLoss(a, b, { reduction: 'none' }).data;
    for (const i of [0, 1234, a.numel - 1]) expect(none[i]).toBe(Math.fround((a.data[i] - b.data[i]) ** 2));
    const row = Tensor.randn([1001]); // target broadcast over the rows: the composition
    let wantRow = 0;
    for (let i = 0; i < a.numel; i++) wantRow += (a.data[i] - row.data[i % 1001]) ** 2;
    expect(Math.abs(ops.mseLoss(a, row).item() - wantRow / a.numel)).toBeLessThan(1e-5 * (wantRow / a.numel));
    expect(ops.mseLoss(Tensor.zeros([0]), Tensor.zeros([0])).item()).toBeNaN();
  });

  test('gradients of every reduction, to input and target, by finite differences', () => {
    const a = Tensor.randn([2, 5], { requiresGrad: true });
    const b = Tensor.randn([2, 5], { requiresGrad: true });
    for (const reduction of ['mean', 'sum', 'none'] as const)
      gradcheck((p, q) => ops.mseLoss(p, q, { reduction }), [a, b]);
    const onlyInput = Tensor.randn([2, 5], { requiresGrad: true });
    ops.mseLoss(onlyInput, b.detach()).backward();
    const g = onlyInput.grad!.data;
    for (let i = 0; i < 10; i++) expect(g[i]).toBeCloseTo((2 * (onlyInput.data[i] - b.data[i])) / 10, 6);
  });
});

describe('binaryCrossEntropyWithLogits', () => {
  const ref = (x: number, y: number, pw: number): number => {
    const sp = Math.log1p(Math.exp(-Math.abs(x))) + Math.max(-x, 0);
    return (1 - y) * x + (1 + (pw - 1) * y) * sp;
  };
  test('against the stable float64 formula, with posWeight number and per-class tensor', () => {
    const x = Tensor.randn([4, 3], { std: 3 });
    const y = Tensor.rand([4, 3]);
    const none = ops.binaryCrossEntropyWithLogits(x, y, { reduction: 'none' });
    expectClose(
      none.data,
      Array.from(x.data, (v, i) => ref(v, y.data[i], 1)),
      1e-6,
      1e-5,
    );
    const pw = Tensor.from([0.5, 2, 3]);
    const weighted = ops.binaryCrossEntropyWithLogits(x, y, { reduction: 'sum', posWeight: pw });
    let want = 0;
    for (let i = 0; i < 12; i++) want += ref(x.data[i], y.data[i], pw.data[i % 3]);
    expect(weighted.item()).toBeCloseTo(want, 4);
    const scalar = ops.binaryCrossEntropyWithLogits(x, y, { posWeight: 2 });
    want = 0;
    for (let i = 0; i < 12; i++) want += ref(x.data[i], y.data[i], 2);
    expect(scalar.item()).toBeCloseTo(want / 12, 5);
  });
  test('huge logits stay finite', () => {
    const x = Tensor.from([-1e4, 1e4, 100, -100]);
    const y = Tensor.from([0, 1, 0, 1]);
    const l = ops.binaryCrossEntropyWithLogits(x, y, { reduction: 'none' }).toArray();
    expectClose(l, [0, 0, 100, 100], 1e-5, 1e-6);
  });
  test('gradients for input and target, all reductions', () => {
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      const x = Tensor.randn([2, 3], { requiresGrad: true });
      const y = Tensor.rand([2, 3], { requiresGrad: true });
      gradcheck(
        (p, q) => ops.binaryCrossEntropyWithLogits(p, q, { reduction, posWeight: Tensor.from([1, 2, 0.5]) }),
        [x, y],
      );
      gradcheck((p, q) => ops.binaryCrossEntropyWithLogits(p, q, { reduction, posWeight: 2 }), [x, y]);
    }
  });
  test('bad input', () => {
    const x = Tensor.zeros([2, 3]);
    expect(() => ops.binaryCrossEntropyWithLogits(x, Tensor.zeros([3]))).toThrow(ShapeError);
    expect(() => ops.binaryCrossEntropyWithLogits(x, x, { posWeight: Tensor.zeros([2]) })).toThrow(ShapeError);
    expect(() => ops.binaryCrossEntropyWithLogits(x, x, { posWeight: 'a' as unknown as number })).toThrow(
      ArgumentError,
    );
  });
});
