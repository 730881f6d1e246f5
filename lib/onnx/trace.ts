/**
 * ONNX tracing: while a trace is active, every op's `record()` call reports the op, its
 * input tensors, its output and the op's ONNX form (declared in the op's own file, next to
 * its forward and backward). The tracer turns that stream into graph nodes.
 *
 * Tensors that reach an op without having been produced by a traced op are, in order:
 * graph inputs, the model's parameters and buffers (initializers named by their state-dict
 * keys), views of a traced tensor (a Tensor.view() call outside ops: a Reshape is emitted),
 * or constants (anonymous initializers holding a copy of the data at trace time).
 */
import { OnnxError } from '../errors';
import { Tensor } from '../tensor';
import { int64, OnnxAttrValue, OnnxDim, OnnxGraphBuilder, OnnxTensorValue } from './builder';
import type { OnnxEmitContext, OnnxForm } from './form';
import { setRecordObserver } from '../autograd';

export type { OnnxEmitContext, OnnxForm, OnnxNodeSpec } from './form';

export interface TraceOptions {
  opset: number;
  dynamicBatch: boolean;
}

export interface RecordedNode {
  type: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, OnnxAttrValue>;
  domain?: string;
  name?: string;
}

/**
 * The traced graph, kept editable until the export is finished (graph passes such as batch
 * norm folding rewrite it), then written by OnnxGraphBuilder.
 */
export class RecordedGraph {
  readonly inputs: { name: string; shape: OnnxDim[] }[] = [];
  readonly outputs: { name: string; shape: OnnxDim[] | null }[] = [];
  readonly initializers = new Map<string, { float?: Float32Array; int64?: number[]; dims: number[] }>();
  nodes: RecordedNode[] = [];

  input(name: string, shape: OnnxDim[]): void {
    this.inputs.push({ name, shape });
  }

  output(name: string, shape: OnnxDim[] | null): void {
    this.outputs.push({ name, shape });
  }

  floatInitializer(name: string, float: Float32Array, dims: readonly number[]): void {
    this.initializers.set(name, { float, dims: [...dims] });
  }

  intInitializer(name: string, values: readonly number[]): void {
    this.initializers.set(name, { int64: [...values], dims: [values.length] });
  }

  node(
    type: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attrs: Record<string, OnnxAttrValue> = {},
    options: { domain?: string; name?: string } = {},
  ): void {
    this.nodes.push({ type, inputs: [...inputs], outputs: [...outputs], attrs, ...options });
  }

  build(opset: number): OnnxGraphBuilder {
    const b = new OnnxGraphBuilder({ opset });
    for (const i of this.inputs) b.input(i.name, i.shape);
    // Only initializers some node reads (a folded-away weight is left out).
    const used = new Set(this.nodes.flatMap((n) => n.inputs));
    for (const [name, v] of this.initializers) {
      if (!used.has(name)) continue;
      const value: OnnxTensorValue = v.float ? { float: v.float, dims: v.dims } : int64(v.int64!, v.dims);
      b.initializer(name, value);
    }
    for (const n of this.nodes) b.node(n.type, n.inputs, n.outputs, n.attrs, { domain: n.domain, name: n.name });
    for (const o of this.outputs) b.output(o.name, o.shape);
    return b;
  }
}

interface Storage {
  refs: number;
}

function storageOf(t: Tensor): Storage {
  return (t as unknown as { storage: Storage }).storage;
}

export class OnnxTracer {
  readonly graph = new RecordedGraph();
  private readonly names = new Map<Tensor, string>();
  /** Tensors known by name but not yet materialised as initializers (parameters, buffers). */
  private readonly pending = new Map<Tensor, string>();
  /** Storage of traced outputs, to recognise untraced views of them. */
  private readonly storages = new Map<Storage, Tensor>();
  private readonly used = new Set<string>();
  private counter = 0;
  /** Module path stack ('' = the root model), maintained by the exporter. */
  readonly modulePath: { path: string; type: string }[] = [];

  constructor(readonly options: TraceOptions) {}

  fresh(hint: string): string {
    let name: string;
    do name = `${hint}_${this.counter++}`;
    while (this.used.has(name));
    this.used.add(name);
    return name;
  }

  /** Registers a graph input tensor. */
  defineInput(t: Tensor, name: string, shape: (number | string)[]): void {
    this.used.add(name);
    this.graph.input(name, shape);
    this.names.set(t, name);
  }

  /** Registers a parameter/buffer under its state-dict key (emitted on first use). */
  defineParameter(t: Tensor, key: string): void {
    if (!this.pending.has(t)) this.pending.set(t, key);
  }

  where(): string {
    const top = this.modulePath[this.modulePath.length - 1];
    return top ? (top.path === '' ? ` in the model (${top.type})` : ` in layer '${top.path}' (${top.type})`) : '';
  }

  fail(op: string, message: string): never {
    throw new OnnxError(`exportOnnx: op '${op}'${this.where()}: ${message}`);
  }

  nameOf(t: Tensor | null | undefined): string {
    if (t === null || t === undefined) return '';
    const known = this.names.get(t);
    if (known !== undefined) return known;
    const key = this.pending.get(t);
    if (key !== undefined) {
      this.used.add(key);
      this.graph.floatInitializer(key, Float32Array.from(t.toArray()), t.shape);
      this.names.set(t, key);
      return key;
    }
    const base = this.storages.get(storageOf(t));
    if (base !== undefined && base.numel === t.numel) {
      // An untraced Tensor.view() of a traced tensor: same data, new shape.
      const out = this.fresh('view');
      this.graph.node('Reshape', [this.nameOf(base), this.reshapeTarget(base.shape, t.shape)], [out]);
      this.names.set(t, out);
      return out;
    }
    const name = this.fresh('const');
    this.graph.floatInitializer(name, Float32Array.from(t.toArray()), t.shape);
    this.names.set(t, name);
    return name;
  }

  ints(values: readonly number[]): string {
    const name = this.fresh('ints');
    this.graph.intInitializer(name, values);
    return name;
  }

  reshapeTarget(from: readonly number[], to: readonly number[]): string {
    const target = [...to];
    if (this.options.dynamicBatch && from.length > 0 && to.length > 0) {
      if (to[0] === from[0]) target[0] = 0;
      else if (from[0] > 0 && to[0] % from[0] === 0 && to[0] !== 0) target[0] = -1;
    }
    return this.ints(target);
  }

  /** Called by record() for every op while this trace is active. */
  onRecord(
    op: string,
    inputs: readonly (Tensor | null | undefined)[],
    output: Tensor,
    form: OnnxForm | undefined,
  ): void {
    if (form === undefined) {
      this.fail(
        op,
        `has no ONNX form, so the model cannot be exported; add an onnx argument to its record() call (lib/ops), ` +
          `or replace the layer with one built from exportable ops (inputs: ${inputs.length})`,
      );
    }
    if (this.names.has(output)) return; // an op that returned an already-named tensor
    const outName = this.fresh(op);
    if (typeof form === 'function') {
      let wrote = false;
      const ctx: OnnxEmitContext = {
        op,
        opset: this.options.opset,
        dynamicBatch: this.options.dynamicBatch,
        output: outName,
        name: (t) => this.nameOf(t),
        node: (type, ins, outs, attrs) => {
          const outputs =
            outs === undefined
              ? [this.fresh(type)]
              : typeof outs === 'number'
                ? Array.from({ length: outs }, () => this.fresh(type))
                : [...outs];
          if (outputs.includes(outName)) wrote = true;
          this.graph.node(type, ins, outputs, attrs ?? {});
          return outputs;
        },
        constant: (values, dims) => {
          const name = this.fresh('const');
          this.graph.floatInitializer(name, Float32Array.from(values), dims);
          return name;
        },
        ints: (values) => this.ints(values),
        reshapeTarget: (from, to) => this.reshapeTarget(from, to),
        fail: (message) => this.fail(op, message),
      };
      form(ctx);
      if (!wrote) this.fail(op, `its ONNX form did not write the output '${outName}' (bug in the op's onnx argument)`);
    } else {
      const ins = form.inputs.map((t) => this.nameOf(t));
      while (ins.length > 0 && ins[ins.length - 1] === '') ins.pop();
      this.graph.node(form.type, ins, [outName], form.attrs ?? {}, form.domain ? { domain: form.domain } : {});
    }
    this.names.set(output, outName);
    this.storages.set(storageOf(output), output);
  }
}

let active: OnnxTracer | null = null;

export function activeTracer(): OnnxTracer | null {
  return active;
}

/** Runs fn with `tracer` receiving every recorded op. */
export function withTracer<T>(tracer: OnnxTracer, fn: () => T): T {
  if (active !== null) throw new OnnxError('exportOnnx: an export is already in progress (exports cannot nest)');
  active = tracer;
  const stopObserving = setRecordObserver(tracer);
  try {
    return fn();
  } finally {
    stopObserving();
    active = null;
  }
}

/** Pads [h, w] pairs as ONNX's [hBegin, wBegin, hEnd, wEnd]. */
export function onnxPads(p: readonly number[]): number[] {
  return [p[0], p[1], p[0], p[1]];
}
