/**
 * Export option foldBatchNorm: rewrites Conv -> BatchNormalization (eval) as one Conv with
 *   W'[o] = W[o] * s[o],  b'[o] = (b[o] - mean[o]) * s[o] + beta[o],  s = gamma / sqrt(var + eps)
 * (computed in float64). Applies only where the Conv's output feeds nothing but that batch norm
 * and every operand is a float initializer; other batch norms stay BatchNormalization nodes.
 */
import { RecordedGraph } from './trace';

function prefix(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

function epsilonOf(attr: unknown): number {
  if (typeof attr === 'number') return attr;
  if (attr !== null && typeof attr === 'object' && 'value' in attr) return Number((attr as { value: unknown }).value);
  return 1e-5;
}

/** Folds in place; returns how many batch norms were folded. */
export function foldBatchNormIntoConv(graph: RecordedGraph): number {
  const consumers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const producer = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.outputs.forEach((o) => producer.set(o, i)));
  const floatInit = (name: string | undefined): Float32Array | null =>
    name ? (graph.initializers.get(name)?.float ?? null) : null;

  const removed = new Set<number>();
  let folded = 0;
  graph.nodes.forEach((bn, bnIndex) => {
    if (bn.type !== 'BatchNormalization' || bn.outputs.length !== 1) return;
    const x = bn.inputs[0];
    const convIndex = producer.get(x);
    if (convIndex === undefined) return;
    const conv = graph.nodes[convIndex];
    if (conv.type !== 'Conv' || consumers.get(x) !== 1 || graphOutputs.has(x)) return;
    const w = floatInit(conv.inputs[1]);
    const gamma = floatInit(bn.inputs[1]),
      beta = floatInit(bn.inputs[2]),
      mean = floatInit(bn.inputs[3]),
      variance = floatInit(bn.inputs[4]);
    if (!w || !gamma || !beta || !mean || !variance) return;
    const hasBias = conv.inputs.length > 2 && conv.inputs[2] !== '';
    const b = hasBias ? floatInit(conv.inputs[2]) : null;
    if (hasBias && !b) return;
    const O = gamma.length;
    const per = w.length / O;
    const eps = epsilonOf(bn.attrs.epsilon);
    const w2 = new Float32Array(w.length);
    const b2 = new Float32Array(O);
    for (let o = 0; o < O; o++) {
      const s = gamma[o] / Math.sqrt(variance[o] + eps);
      for (let k = 0; k < per; k++) w2[o * per + k] = w[o * per + k] * s;
      b2[o] = ((b ? b[o] : 0) - mean[o]) * s + beta[o];
    }
    const bnName = prefix(bn.inputs[1]);
    const wName = `${conv.inputs[1]}+${bnName}`;
    const bName = `${prefix(conv.inputs[1])}.bias+${bnName}`;
    graph.floatInitializer(wName, w2, graph.initializers.get(conv.inputs[1])!.dims);
    graph.floatInitializer(bName, b2, [O]);
    graph.nodes[convIndex] = { ...conv, inputs: [conv.inputs[0], wName, bName], outputs: [...bn.outputs] };
    removed.add(bnIndex);
    folded++;
  });
  graph.nodes = graph.nodes.filter((_, i) => !removed.has(i));
  return folded;
}
