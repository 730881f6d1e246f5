/**
 * The pointwise family against ONNX Runtime's kernels in the same run: broadcasting
 * arithmetic, ReduceSum / ReduceMean over several axes with keepdims, Transpose, Concat,
 * Slice and Exp/Log/Sqrt.
 */
import { ops, Tensor, manualSeed } from '../lib';
import { int64, OnnxGraphBuilder } from '../lib/onnx/builder';
import { runOnnx } from '../lib/onnx/ort';
import { expectClose } from './helpers';

describe('pointwise ops against ONNX Runtime', () => {
  beforeEach(() => manualSeed(81));

  test('Add, Sub, Mul, Div with broadcasting', async () => {
    const a = Tensor.randn([2, 3, 4, 5]);
    const b = Tensor.rand([3, 1, 5], { low: 0.5, high: 2 });
    const bytes = new OnnxGraphBuilder({ opset: 17 })
      .input('a', [2, 3, 4, 5])
      .input('b', [3, 1, 5])
      .node('Add', ['a', 'b'], ['add'])
      .node('Sub', ['b', 'a'], ['sub'])
      .node('Mul', ['a', 'b'], ['mul'])
      .node('Div', ['a', 'b'], ['div'])
      .output('add')
      .output('sub')
      .output('mul')
      .output('div')
      .toBytes();
    const r = await runOnnx(bytes, { a, b }, { threads: 1 });
    expectClose(ops.add(a, b).data, r.add.data, 1e-6, 1e-6);
    expectClose(ops.sub(b, a).data, r.sub.data, 1e-6, 1e-6);
    expectClose(ops.mul(a, b).data, r.mul.data, 1e-6, 1e-6);
    expectClose(ops.div(a, b).data, r.div.data, 1e-6, 1e-6);
  });

  test('ReduceSum and ReduceMean over several axes, with and without keepdims', async () => {
    const x = Tensor.randn([3, 4, 5, 6]);
    const bytes = new OnnxGraphBuilder({ opset: 18 })
      .input('x', [3, 4, 5, 6])
      .initializer('axes', int64([0, 2, 3]))
      .initializer('axes2', int64([1, 3]))
      .node('ReduceSum', ['x', 'axes'], ['s'], { keepdims: 1 })
      .node('ReduceMean', ['x', 'axes2'], ['m'], { keepdims: 0 })
      .output('s')
      .output('m')
      .toBytes();
    const r = await runOnnx(bytes, { x }, { threads: 1 });
    const s = ops.sum(x, [0, 2, 3], true);
    expect(s.shape).toEqual(r.s.shape);
    expectClose(s.data, r.s.data, 1e-4, 1e-5);
    const m = ops.mean(x, [1, 3]);
    expect(m.shape).toEqual(r.m.shape);
    expectClose(m.data, r.m.data, 1e-6, 1e-5);
  });

  test('Transpose, Concat, Slice, Exp, Log, Sqrt', async () => {
    const x = Tensor.rand([2, 3, 4, 5], { low: 0.1, high: 3 });
    const bytes = new OnnxGraphBuilder({ opset: 17 })
      .input('x', [2, 3, 4, 5])
      .initializer('starts', int64([1]))
      .initializer('ends', int64([3]))
      .initializer('sax', int64([2]))
      .node('Transpose', ['x'], ['t'], { perm: [0, 2, 3, 1] })
      .node('Concat', ['x', 'x'], ['c'], { axis: 1 })
      .node('Slice', ['x', 'starts', 'ends', 'sax'], ['sl'])
      .node('Exp', ['x'], ['e'])
      .node('Log', ['x'], ['l'])
      .node('Sqrt', ['x'], ['q'])
      .output('t')
      .output('c')
      .output('sl')
      .output('e')
      .output('l')
      .output('q')
      .toBytes();
    const r = await runOnnx(bytes, { x }, { threads: 1 });
    expectClose(ops.permute(x, [0, 2, 3, 1]).data, r.t.data, 0, 0);
    expectClose(ops.concat([x, x], 1).data, r.c.data, 0, 0);
    expectClose(ops.slice(x, 2, 1, 3).data, r.sl.data, 0, 0);
    expectClose(ops.exp(x).data, r.e.data, 1e-6, 2e-6);
    expectClose(ops.log(x).data, r.l.data, 1e-6, 2e-6);
    expectClose(ops.sqrt(x).data, r.q.data, 1e-6, 1e-6);
  });
});
