/**
 * Pointwise suite (`npm run bench -- pointwise`): elementwise arithmetic with broadcasting,
 * activations, reductions, shape copies, softmax and the fused cross-entropy, on
 * activation-sized tensors, and two tiny calls that time the per-call overhead. Anchor: ONNX
 * Runtime's kernel for the same op (same shapes, same thread count), measured interleaved in
 * the same run.
 */
import { getNumThreads, manualSeed, noGrad, ops, setNumThreads, Tensor, tidy } from '../../lib';
import { attr, int64, OnnxGraphBuilder } from '../../lib/onnx/builder';
import { OrtSession } from '../../lib/onnx/ort';
import { BenchOptions, BenchRow, compareRow, measureInterleaved, perCall, round, threadList } from './harness';

interface Case {
  name: string;
  anchor: string;
  inputs: Record<string, number[]>;
  /** Integer class targets (float values) instead of random normals, for losses. */
  classes?: { name: string; count: number };
  ours: (t: Record<string, Tensor>) => Tensor;
  onnx: (g: OnnxGraphBuilder) => OnnxGraphBuilder;
  /** Inputs |normal| + 0.1 instead of normals (log's domain). */
  positive?: boolean;
  /** The ONNX output's element type when not float (ArgMax's int64). */
  outputType?: 'int64';
  /** Calls per timed sample, reported per call: for calls too short to time one at a time. */
  repeat?: number;
}

const act = [8, 64, 56, 56];
const cases: Case[] = [
  {
    name: 'add [8,64,56,56] + same',
    anchor: 'Add',
    inputs: { a: act, b: act },
    ours: (t) => ops.add(t.a, t.b),
    onnx: (g) => g.node('Add', ['a', 'b'], ['y']),
  },
  {
    name: 'mul [8,64,56,56] * [1,64,1,1]',
    anchor: 'Mul',
    inputs: { a: act, b: [1, 64, 1, 1] },
    ours: (t) => ops.mul(t.a, t.b),
    onnx: (g) => g.node('Mul', ['a', 'b'], ['y']),
  },
  {
    name: 'relu [8,64,56,56]',
    anchor: 'Relu',
    inputs: { a: act },
    ours: (t) => ops.relu(t.a),
    onnx: (g) => g.node('Relu', ['a'], ['y']),
  },
  {
    name: 'sigmoid [8,64,56,56]',
    anchor: 'Sigmoid',
    inputs: { a: act },
    ours: (t) => ops.sigmoid(t.a),
    onnx: (g) => g.node('Sigmoid', ['a'], ['y']),
  },
  {
    name: 'tanh [8,64,56,56]',
    anchor: 'Tanh',
    inputs: { a: act },
    ours: (t) => ops.tanh(t.a),
    onnx: (g) => g.node('Tanh', ['a'], ['y']),
  },
  {
    name: 'log [8,64,56,56] (|normal| + 0.1)',
    anchor: 'Log',
    inputs: { a: act },
    positive: true,
    ours: (t) => ops.log(t.a),
    onnx: (g) => g.node('Log', ['a'], ['y']),
  },
  {
    name: 'softplus [8,64,56,56]',
    anchor: 'Softplus',
    inputs: { a: act },
    ours: (t) => ops.softplus(t.a),
    onnx: (g) => g.node('Softplus', ['a'], ['y']),
  },
  {
    name: 'silu [8,64,56,56]',
    anchor: 'Sigmoid+Mul',
    inputs: { a: act },
    ours: (t) => ops.silu(t.a),
    onnx: (g) => g.node('Sigmoid', ['a'], ['s']).node('Mul', ['a', 's'], ['y']),
  },
  {
    name: 'sum dims [0,2,3] of [8,64,56,56]',
    anchor: 'ReduceSum',
    inputs: { a: act },
    ours: (t) => ops.sum(t.a, [0, 2, 3]),
    onnx: (g) => g.initializer('axes', int64([0, 2, 3])).node('ReduceSum', ['a', 'axes'], ['y'], { keepdims: 0 }),
  },
  {
    name: 'argmax dim 1 of [8,64,56,56]',
    anchor: 'ArgMax',
    inputs: { a: act },
    ours: (t) => ops.argmax(t.a, 1),
    onnx: (g) => g.node('ArgMax', ['a'], ['y'], { axis: attr.int(1), keepdims: attr.int(0) }),
    outputType: 'int64',
  },
  {
    name: 'concat 2x[8,64,56,56] dim 1',
    anchor: 'Concat',
    inputs: { a: act, b: act },
    ours: (t) => ops.concat([t.a, t.b], 1),
    onnx: (g) => g.node('Concat', ['a', 'b'], ['y'], { axis: 1 }),
  },
  {
    name: 'permute NCHW->NHWC [8,64,56,56]',
    anchor: 'Transpose',
    inputs: { a: act },
    ours: (t) => ops.permute(t.a, [0, 2, 3, 1]),
    onnx: (g) => g.node('Transpose', ['a'], ['y'], { perm: [0, 2, 3, 1] }),
  },
  {
    name: 'softmax [256,1000] dim 1',
    anchor: 'Softmax',
    inputs: { a: [256, 1000] },
    ours: (t) => ops.softmax(t.a, 1),
    onnx: (g) => g.node('Softmax', ['a'], ['y'], { axis: 1 }),
  },
  {
    name: 'logSoftmax [8,21,64,64] dim 1',
    anchor: 'LogSoftmax',
    inputs: { a: [8, 21, 64, 64] },
    ours: (t) => ops.logSoftmax(t.a, 1),
    onnx: (g) => g.node('LogSoftmax', ['a'], ['y'], { axis: 1 }),
  },
  {
    name: 'crossEntropy [256,1000]',
    anchor: 'SoftmaxCrossEntropyLoss',
    inputs: { a: [256, 1000] },
    classes: { name: 'labels', count: 1000 },
    ours: (t) => ops.crossEntropy(t.a, t.labels),
    // Labels arrive as float (like ours) and are cast inside the graph; the Cast is tiny.
    onnx: (g) =>
      g
        .input('labels', [256])
        .node('Cast', ['labels'], ['labels_i'], { to: 7 })
        .node('SoftmaxCrossEntropyLoss', ['a', 'labels_i'], ['y'], { reduction: 'mean' }),
  },
  // Tensors of 128 floats: the arithmetic is nothing, so these time what a call costs (checks,
  // the tensor's allocation, reading the arguments across N-API) against ORT's session.run.
  {
    name: 'mseLoss [8,64,56,56]',
    anchor: 'Sub+Mul+ReduceMean',
    inputs: { a: act, b: act },
    ours: (t) => ops.mseLoss(t.a, t.b),
    onnx: (g) =>
      g
        .node('Sub', ['a', 'b'], ['d'])
        .node('Mul', ['d', 'd'], ['s'])
        .node('ReduceMean', ['s'], ['y'], { keepdims: attr.int(0) }),
  },
  {
    name: 'relu [1,8,4,4] (the cost of one call)',
    anchor: 'Relu',
    inputs: { a: [1, 8, 4, 4] },
    ours: (t) => ops.relu(t.a),
    onnx: (g) => g.node('Relu', ['a'], ['y']),
    repeat: 200,
  },
  {
    name: 'add [1,8,4,4] + same (the cost of one call)',
    anchor: 'Add',
    inputs: { a: [1, 8, 4, 4], b: [1, 8, 4, 4] },
    ours: (t) => ops.add(t.a, t.b),
    onnx: (g) => g.node('Add', ['a', 'b'], ['y']),
    repeat: 200,
  },
];

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const saved = getNumThreads();
  const rows: BenchRow[] = [];
  const timing = opts.quick ? { warmup: 1, iters: 3 } : { warmup: 3, targetMs: 1500, minIters: 10, maxIters: 200 };
  try {
    for (const c of cases) {
      manualSeed(1);
      const t: Record<string, Tensor> = {};
      const g = new OnnxGraphBuilder({ opset: 19 });
      for (const [name, shape] of Object.entries(c.inputs)) {
        const normal = Tensor.randn(shape);
        t[name] = c.positive ? ops.add(ops.abs(normal), 0.1) : normal;
        g.input(name, shape);
      }
      c.onnx(g).output('y', null, c.outputType ?? 'float');
      if (c.classes) {
        const n = c.inputs.a[0];
        t[c.classes.name] = Tensor.from(Array.from({ length: n }, (_, i) => (i * 7919) % c.classes!.count));
      }
      const bytes = g.toBytes();
      for (const threads of threadList(opts)) {
        setNumThreads(threads);
        const session = await OrtSession.create(bytes, { threads, allowSpinning: false });
        const feeds = session.feeds(t);
        const calls = c.repeat ?? 1;
        const ours = (): void =>
          tidy(() =>
            noGrad(() => {
              for (let i = 0; i < calls; i++) c.ours(t).dispose();
            }),
          );
        const anchor = async (): Promise<void> => {
          for (let i = 0; i < calls; i++) await session.runRaw(feeds);
        };
        const [mine, ort] = (await measureInterleaved([ours, anchor], timing)).map((m) => perCall(m, calls));
        const micros: BenchRow =
          calls > 1 ? { 'µs per call': round(mine.median * 1e3), 'anchor µs': round(ort.median * 1e3) } : {};
        rows.push(compareRow(c.name, threads, mine, `ORT ${c.anchor}`, ort, micros));
        await session.release();
      }
    }
  } finally {
    setNumThreads(saved);
  }
  return rows;
}
