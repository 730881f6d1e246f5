/**
 * exportOnnx: traces one eval-mode forward of a flexconv model (under noGrad) and writes the
 * ops it ran as a standard ONNX graph. Each op declares its own ONNX form in lib/ops (the
 * `onnx` argument of record()); parameters and buffers become initializers named by their
 * state-dict keys.
 *
 *   const bytes = exportOnnx(model, [1, 3, 32, 32], { dynamicBatch: true, file: 'model.onnx' });
 *   const onnx = await OnnxModel.load(bytes);  const y = await onnx.run(x);
 *
 * Inputs: a Tensor (forward(x)), an array (its elements are forward's arguments; an element may
 * itself be a Tensor[] or a named map, e.g. an FPN's feature maps), or a named map (passed as
 * forward's one argument; its keys name the graph inputs). Shapes instead of tensors
 * (number[] for one input, number[][] for several, or a map of shapes) get random inputs.
 */
import { noGrad } from '../autograd';
import { writeFileAtomic } from '../io/atomic_write';
import { OnnxError, describe } from '../errors';
import type { Module } from '../nn/module';
import { tidy } from '../scope';
import { Device, Tensor } from '../tensor';
import { foldBatchNormIntoConv } from './fold_batch_norm';
import { OnnxTracer, withTracer } from './trace';

type ArgValue = Tensor | Tensor[] | Record<string, Tensor>;
export type SampleInput = Tensor | ArgValue[] | Record<string, Tensor>;
export type InputShapes = number[] | number[][] | Record<string, number[]>;

export interface ExportOnnxOptions {
  /** ONNX opset of the default domain (default 19: the first with DeformConv). */
  opset?: number;
  /** Make the first dimension of every input and output symbolic ('N') so any batch size runs. */
  dynamicBatch?: boolean;
  /** Graph input and output names (in flattened order); default the map keys or input/output(_i). */
  names?: { inputs?: string[]; outputs?: string[] };
  /**
   * Fold each eval-mode batch norm into the Conv before it (new weights named
   * '<conv weight key>+<bn prefix>'), leaving no BatchNormalization node after a conv (default false).
   */
  foldBatchNorm?: boolean;
  /** Also write the model to this path (atomically: temporary file, then rename). */
  file?: string;
}

const WHERE = 'exportOnnx';

function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((d) => Number.isInteger(d) && d >= 1);
}

/** Random sample tensors for shapes, or the sample tensors themselves: returns forward's arguments. */
function forwardArgs(sample: SampleInput | InputShapes, device: Device): ArgValue[] {
  const randn = (shape: number[]): Tensor => Tensor.randn(shape, { device });
  if (sample instanceof Tensor) return [sample];
  if (isShape(sample)) return [randn(sample)];
  if (Array.isArray(sample)) {
    if (sample.length > 0 && sample.every(isShape)) return (sample as number[][]).map((s) => randn(s));
    return sample.map((a, i) => checkArg(`sampleInput[${i}]`, a));
  }
  if (sample !== null && typeof sample === 'object') {
    const entries = Object.entries(sample);
    if (entries.length > 0 && entries.every(([, v]) => isShape(v))) {
      return [Object.fromEntries(entries.map(([k, v]) => [k, randn(v as number[])]))];
    }
    return [checkArg('sampleInput', sample)];
  }
  throw new OnnxError(
    `${WHERE}: expected sampleInput to be a Tensor, an array or map of Tensors, or input shapes but received ${describe(sample)}`,
  );
}

function checkArg(what: string, a: unknown): ArgValue {
  if (a instanceof Tensor) return a;
  const values = Array.isArray(a) ? a : a !== null && typeof a === 'object' ? Object.values(a) : null;
  if (values === null || values.length === 0 || !values.every((t) => t instanceof Tensor)) {
    throw new OnnxError(
      `${WHERE}: expected ${what} to be a Tensor, an array of Tensors or a map of Tensors but received ${describe(a)}`,
    );
  }
  return a as ArgValue;
}

/** Flattens forward's arguments into (default name, tensor) pairs in order. */
function flattenInputs(args: ArgValue[]): [string, Tensor][] {
  const out: [string | null, Tensor][] = [];
  for (const a of args) {
    if (a instanceof Tensor) out.push([null, a]);
    else if (Array.isArray(a)) for (const t of a) out.push([null, t]);
    else for (const [k, t] of Object.entries(a)) out.push([k, t]);
  }
  return out.map(([k, t], i) => [k ?? (out.length === 1 ? 'input' : `input_${i}`), t]);
}

/** Flattens a forward result into (default name, tensor) pairs: Tensor, nested arrays, or a map. */
function flattenOutputs(result: unknown): [string, Tensor][] {
  const out: [string | null, Tensor][] = [];
  const visit = (v: unknown, key: string | null, path: string): void => {
    if (v instanceof Tensor) out.push([key, v]);
    else if (Array.isArray(v)) v.forEach((x, i) => visit(x, null, `${path}[${i}]`));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) visit(x, k, `${path}.${k}`);
    else {
      throw new OnnxError(
        `${WHERE}: the model's forward returned ${describe(v)} at output${path}; only Tensors, arrays and maps of Tensors can be exported`,
      );
    }
  };
  visit(result, null, '');
  if (out.length === 0) throw new OnnxError(`${WHERE}: the model's forward returned no Tensor`);
  return out.map(([k, t], i) => [k ?? (out.length === 1 ? 'output' : `output_${i}`), t]);
}

function checkNames(kind: 'inputs' | 'outputs', given: unknown, count: number): string[] | null {
  if (given === undefined) return null;
  if (
    !Array.isArray(given) ||
    given.length !== count ||
    !given.every((n) => typeof n === 'string' && n !== '') ||
    new Set(given).size !== count
  ) {
    throw new OnnxError(
      `${WHERE}: expected names.${kind} to be ${count} distinct non-empty strings but received ${describe(given)}`,
    );
  }
  return given;
}

/** Wraps forward of every submodule so errors can name the layer being traced. Returns the undo. */
function instrumentModules(model: Module, tracer: OnnxTracer): () => void {
  const undo: (() => void)[] = [];
  for (const [path, m] of model.namedModules()) {
    const own = Object.prototype.hasOwnProperty.call(m, 'forward');
    const original = m.forward;
    const type = m.constructor.name;
    Object.defineProperty(m, 'forward', {
      configurable: true,
      writable: true,
      value: function tracedForward(this: Module, ...args: unknown[]) {
        tracer.modulePath.push({ path, type });
        try {
          return original.apply(this, args);
        } finally {
          tracer.modulePath.pop();
        }
      },
    });
    undo.push(() => {
      if (own) (m as { forward: unknown }).forward = original;
      else delete (m as { forward?: unknown }).forward;
    });
  }
  return () => undo.forEach((f) => f());
}

export function exportOnnx(
  model: Module,
  sampleInput: SampleInput | InputShapes,
  options: ExportOnnxOptions = {},
): Uint8Array {
  if (
    model === null ||
    typeof model !== 'object' ||
    typeof (model as Module).forward !== 'function' ||
    typeof model.namedModules !== 'function'
  ) {
    throw new OnnxError(`${WHERE}: expected model to be an nn.Module but received ${describe(model)}`);
  }
  if (options === null || typeof options !== 'object') {
    throw new OnnxError(`${WHERE}: expected options to be an object but received ${describe(options)}`);
  }
  const opset = options.opset ?? 19;
  if (!Number.isInteger(opset) || opset < 11 || opset > 23) {
    throw new OnnxError(`${WHERE}: expected opset to be an integer from 11 to 23 but received ${describe(opset)}`);
  }
  const dynamicBatch = options.dynamicBatch ?? false;
  if (typeof dynamicBatch !== 'boolean') {
    throw new OnnxError(`${WHERE}: expected dynamicBatch to be a boolean but received ${describe(dynamicBatch)}`);
  }
  if (options.file !== undefined && (typeof options.file !== 'string' || options.file === '')) {
    throw new OnnxError(`${WHERE}: expected file to be a path but received ${describe(options.file)}`);
  }
  const foldBatchNorm = options.foldBatchNorm ?? false;
  if (typeof foldBatchNorm !== 'boolean') {
    throw new OnnxError(`${WHERE}: expected foldBatchNorm to be a boolean but received ${describe(foldBatchNorm)}`);
  }
  // Random inputs for shapes are made on the model's device (its first parameter's).
  const device = model.parameters()[0]?.device ?? 'cpu';
  const args = forwardArgs(sampleInput, device);
  const inputs = flattenInputs(args);
  const inputNames = checkNames('inputs', options.names?.inputs, inputs.length) ?? inputs.map(([n]) => n);
  const batch = inputs[0][1].shape[0];

  const tracer = new OnnxTracer({ opset, dynamicBatch });
  inputs.forEach(([, t], i) =>
    tracer.defineInput(
      t,
      inputNames[i],
      t.shape.map((d, k) => (dynamicBatch && k === 0 ? 'N' : d)),
    ),
  );
  for (const [key, p] of model.namedParameters()) tracer.defineParameter(p, key);
  for (const [key, b] of model.namedBuffers()) tracer.defineParameter(b, key);

  const modes = Array.from(model.namedModules(), ([, m]) => [m, m.training] as const);
  const restore = instrumentModules(model, tracer);
  model.eval();
  try {
    tidy(() => {
      const result = noGrad(() => withTracer(tracer, () => model.forward(...args)));
      const outputs = flattenOutputs(result);
      // Default output names that repeat an input name (an FPN maps c3 -> c3) get an '_out' suffix.
      const outputNames =
        checkNames('outputs', options.names?.outputs, outputs.length) ??
        outputs.map(([n]) => (inputNames.includes(n) ? `${n}_out` : n));
      const taken = new Set(inputNames);
      outputs.forEach(([, t], i) => {
        const name = outputNames[i];
        if (taken.has(name))
          throw new OnnxError(`${WHERE}: output name '${name}' is already used by an input or another output`);
        taken.add(name);
        tracer.graph.node('Identity', [tracer.nameOf(t)], [name], {}, { name: `output_identity_${i}` });
        const batched = dynamicBatch && t.ndim > 0 && t.shape[0] === batch;
        tracer.graph.output(
          name,
          t.shape.map((d, k) => (batched && k === 0 ? 'N' : d)),
        );
      });
    });
  } finally {
    restore();
    for (const [m, training] of modes) m.training = training;
  }
  if (foldBatchNorm) foldBatchNormIntoConv(tracer.graph);
  const bytes = tracer.graph.build(opset).toBytes();
  if (options.file !== undefined) writeAtomically(options.file, bytes);
  return bytes;
}

function writeAtomically(file: string, bytes: Uint8Array): void {
  try {
    writeFileAtomic(file, bytes);
  } catch (e) {
    throw new OnnxError(`${WHERE}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
