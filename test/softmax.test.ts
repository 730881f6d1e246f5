import { ops, Tensor, ArgumentError, manualSeed, setNumThreads, getNumThreads } from '../lib';
import { OnnxGraphBuilder } from '../lib/onnx/builder';
import { runOnnx } from '../lib/onnx/ort';
import { expectClose } from './helpers';
import { gradcheck } from './gradcheck';
import { refSoftmax } from './reference/pointwise';

describe('softmax and logSoftmax', () => {
  beforeEach(() => manualSeed(51));
  const cases: [number[], number][] = [
    [[4, 10], 1],
    [[4, 10], 0],
    [[2, 5, 3, 3], 1], // channel softmax of a segmentation map
    [[2, 3, 70], -1],
    [[3, 1], 1], // one class
    [[1, 200, 1], 1],
  ];
  for (const [shape, dim] of cases) {
    test(`shape [${shape}] dim ${dim}: forward against float64`, () => {
      const x = Tensor.randn(shape, { std: 3 });
      const d = dim < 0 ? dim + shape.length : dim;
      expectClose(ops.softmax(x, dim).data, refSoftmax(x.data, shape, d, false), 1e-6, 1e-5);
      expectClose(ops.logSoftmax(x, dim).data, refSoftmax(x.data, shape, d, true), 1e-5, 1e-5);
    });
  }

  test('gradients (finite differences), including a strided dimension', () => {
    for (const [shape, dim] of [
      [[3, 4], 1],
      [[2, 3, 2, 2], 1],
      [[2, 3, 4], 0],
    ] as [number[], number][]) {
      const x = Tensor.randn(shape, { requiresGrad: true });
      gradcheck((t) => ops.softmax(t, dim), [x]);
      gradcheck((t) => ops.logSoftmax(t, dim), [x]);
    }
  });

  test('huge logits stay finite and exact', () => {
    const x = Tensor.from([1000, 1001, 1002, -1000, 0, 1000], [2, 3]);
    const s = ops.softmax(x, 1).toArray();
    expectClose(s, refSoftmax([1000, 1001, 1002, -1000, 0, 1000], [2, 3], 1, false), 1e-7, 1e-6);
    const l = ops.logSoftmax(x, 1).toArray();
    expectClose(l, refSoftmax([1000, 1001, 1002, -1000, 0, 1000], [2, 3], 1, true), 1e-5, 1e-6);
    expect(l[3]).toBeCloseTo(-2000, 3);
    for (const v of [...s, ...l]) expect(Number.isFinite(v)).toBe(true);
  });

  test('NaN, +inf and -inf logits in rows wider than a vector: as PyTorch (closed forms)', () => {
    // A NaN or +inf anywhere (in the vector part or the scalar tail of the 70 classes) makes
    // the whole row NaN; -inf classes get exactly 0 and the others share the rest; a row of
    // only -inf is NaN.
    const n = 70;
    const rows = [
      Array.from({ length: n }, (_, i) => (i === 3 ? NaN : i / 10)),
      Array.from({ length: n }, (_, i) => (i === n - 1 ? NaN : i / 10)),
      Array.from({ length: n }, (_, i) => (i === 40 ? Infinity : i / 10)),
      Array.from({ length: n }, (_, i) => (i % 2 ? -Infinity : 0)),
      Array.from({ length: n }, () => -Infinity),
    ];
    const x = Tensor.from(rows.flat(), [rows.length, n]);
    const p = ops.softmax(x, 1).data,
      lp = ops.logSoftmax(x, 1).data;
    for (const r of [0, 1, 2, 4]) {
      for (let i = 0; i < n; i++) {
        expect(p[r * n + i]).toBeNaN();
        expect(lp[r * n + i]).toBeNaN();
      }
    }
    for (let i = 0; i < n; i++) {
      expect(p[3 * n + i]).toBeCloseTo(i % 2 ? 0 : 1 / 35, 7);
      expect(lp[3 * n + i]).toBeCloseTo(i % 2 ? -Infinity : -Math.log(35), 6);
    }
    const loss = ops.crossEntropy(x, Tensor.from([0, 0, 0, 0, 0], [5]), { reduction: 'none' }).data;
    expect([0, 1, 2, 4].map((r) => Number.isNaN(loss[r]))).toEqual([true, true, true, true]);
    expect(loss[3]).toBeCloseTo(Math.log(35), 6);
  });

  test('threaded segmentation-sized input agrees at 1 and 2 threads', () => {
    const threads = getNumThreads();
    try {
      const x = Tensor.randn([2, 21, 40, 40]);
      setNumThreads(1);
      const one = ops.logSoftmax(x, 1).toArray();
      setNumThreads(2);
      expect(ops.logSoftmax(x, 1).toArray()).toEqual(one);
    } finally {
      setNumThreads(threads);
    }
  });

  test('dim out of range raises an ArgumentError naming dim', () => {
    expect(() => ops.softmax(Tensor.zeros([2, 3]), 2)).toThrow(
      'softmax: expected dim to be an integer in [-2, 1] but received 2 of type number',
    );
    expect(() => ops.logSoftmax(Tensor.zeros([2, 3]), 1.5)).toThrow(ArgumentError);
  });

  test('matches ONNX Runtime Softmax, LogSoftmax, Sigmoid, Tanh, Relu', async () => {
    const x = Tensor.randn([2, 5, 3, 4], { std: 4 });
    const bytes = new OnnxGraphBuilder({ opset: 17 })
      .input('x', [2, 5, 3, 4])
      .node('Softmax', ['x'], ['s'], { axis: 1 })
      .node('LogSoftmax', ['x'], ['l'], { axis: -1 })
      .node('Sigmoid', ['x'], ['sg'])
      .node('Tanh', ['x'], ['th'])
      .node('Relu', ['x'], ['r'])
      .output('s')
      .output('l')
      .output('sg')
      .output('th')
      .output('r')
      .toBytes();
    const res = await runOnnx(bytes, { x }, { threads: 1 });
    expectClose(ops.softmax(x, 1).data, res.s.data, 1e-6, 1e-5);
    expectClose(ops.logSoftmax(x, -1).data, res.l.data, 1e-5, 1e-5);
    expectClose(ops.sigmoid(x).data, res.sg.data, 1e-6, 1e-5);
    expectClose(ops.tanh(x).data, res.th.data, 1e-6, 1e-5);
    expectClose(ops.relu(x).data, res.r.data, 0, 0);
  });
});
