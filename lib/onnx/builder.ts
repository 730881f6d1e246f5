/**
 * OnnxGraphBuilder: writes an ONNX ModelProto (protobuf bytes) without any dependency.
 *
 *   const b = new OnnxGraphBuilder({ opset: 19 });
 *   b.input('x', ['N', 3, 8, 8]);              // strings are symbolic (dynamic) dims
 *   b.initializer('w', weight);                 // a flexconv Tensor (float)
 *   b.initializer('shape', int64([1, -1]));     // int64 data (BigInt64Array)
 *   b.node('Conv', ['x', 'w'], ['y'], { pads: [1, 1, 1, 1], strides: [1, 1] });
 *   b.output('y');
 *   const bytes = b.toBytes();                  // feed to runOnnx() or write to a .onnx file
 *
 * Attribute types are inferred from the JS value: an integer number -> int, other numbers ->
 * float, an array of integers -> ints, an array with a non-integer -> floats, a string ->
 * string, a Tensor / typed array -> tensor. An integer-valued float (alpha = 1) must be wrapped
 * (`attr.float(1)`), and an empty float list too (`attr.floats([])`), or ONNX Runtime rejects
 * the attribute's type.
 *
 * toBytes() validates the graph first (names defined before use, nodes in topological order,
 * no duplicate names, every output produced) and throws OnnxError with the offending name.
 */
import { OnnxError, describe } from '../errors';
import { Tensor } from '../tensor';
import { ProtoWriter } from './protobuf';

/** ONNX TensorProto.DataType values used here. */
const DTYPE = { float: 1, int32: 6, int64: 7, bool: 9 } as const;
export type OnnxElemType = keyof typeof DTYPE;

/** A graph input/output dimension: a size, a symbolic name (dynamic), or null (unknown). */
export type OnnxDim = number | string | null;

/** Int64 tensor data for initializers and tensor attributes. */
export interface Int64Data {
  int64: ArrayLike<number | bigint>;
  dims?: readonly number[];
}

/** Float tensor data given as a plain typed array plus dims. */
export interface FloatData {
  float: Float32Array | ArrayLike<number>;
  dims?: readonly number[];
}

export type OnnxTensorValue = Tensor | Float32Array | BigInt64Array | Int64Data | FloatData;

type TypedAttr =
  | { type: 'int'; value: number | bigint }
  | { type: 'ints'; value: ArrayLike<number | bigint> }
  | { type: 'float'; value: number }
  | { type: 'floats'; value: ArrayLike<number> }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: OnnxTensorValue };

export type OnnxAttrValue = number | bigint | string | readonly number[] | OnnxTensorValue | TypedAttr;

/** Explicit attribute types, for values whose JS type is ambiguous. */
export const attr = {
  int: (value: number | bigint): TypedAttr => ({ type: 'int', value }),
  ints: (value: ArrayLike<number | bigint>): TypedAttr => ({ type: 'ints', value }),
  float: (value: number): TypedAttr => ({ type: 'float', value }),
  floats: (value: ArrayLike<number>): TypedAttr => ({ type: 'floats', value }),
  string: (value: string): TypedAttr => ({ type: 'string', value }),
  tensor: (value: OnnxTensorValue): TypedAttr => ({ type: 'tensor', value }),
};

/** int64 tensor data (e.g. a Reshape target shape), for initializer() or a tensor attribute. */
export function int64(values: ArrayLike<number | bigint>, dims?: readonly number[]): Int64Data {
  return { int64: values, dims };
}

/** ONNX AttributeProto.AttributeType values. */
const ATTR = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

/**
 * The IR version that introduced each opset (onnx/docs/Versioning.md). Writing the lowest IR
 * version that covers the opset keeps models loadable by older runtimes too.
 */
function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

export interface OnnxGraphBuilderOptions {
  /** Opset version of the default ('' = ai.onnx) domain, e.g. 19. */
  opset: number;
  /** Extra operator set imports, e.g. { 'com.microsoft': 1 }. */
  domains?: Record<string, number>;
  /** Overrides the IR version derived from the opset. */
  irVersion?: number;
  graphName?: string;
  producerName?: string;
}

interface ValueInfo {
  name: string;
  elemType: OnnxElemType;
  shape: OnnxDim[] | null;
}

interface NodeEntry {
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, OnnxAttrValue>;
  domain: string;
  name: string;
}

interface InitializerEntry {
  name: string;
  value: OnnxTensorValue;
  dims?: readonly number[];
}

const WHERE = 'OnnxGraphBuilder';

function checkName(where: string, what: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new OnnxError(`${where}: expected ${what} to be a non-empty string but received ${describe(name)}`);
  }
  return name;
}

function isIntegerish(v: unknown): boolean {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
}

export class OnnxGraphBuilder {
  private readonly opset: number;
  private readonly domains: Map<string, number>;
  private readonly irVersion: number;
  private readonly graphName: string;
  private readonly producerName: string;
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: InitializerEntry[] = [];
  private readonly nodes: NodeEntry[] = [];

  constructor(options: OnnxGraphBuilderOptions) {
    if (options === null || typeof options !== 'object') {
      throw new OnnxError(
        `${WHERE}: expected options to be an object like { opset: 19 } but received ${describe(options)}`,
      );
    }
    const { opset } = options;
    if (!Number.isInteger(opset) || opset < 1) {
      throw new OnnxError(`${WHERE}: expected opset to be a positive integer but received ${describe(opset)}`);
    }
    this.opset = opset;
    this.domains = new Map();
    for (const [domain, version] of Object.entries(options.domains ?? {})) {
      this.opsetImport(domain, version);
    }
    this.irVersion = options.irVersion ?? irVersionFor(opset);
    this.graphName = options.graphName ?? 'flexconv';
    this.producerName = options.producerName ?? 'flexconv';
  }

  /** Imports an extra operator set (a custom domain such as 'com.microsoft'). */
  opsetImport(domain: string, version: number): this {
    if (typeof domain !== 'string' || domain === '' || domain === 'ai.onnx') {
      throw new OnnxError(
        `${WHERE}.opsetImport: expected domain to be a non-default domain name but received ${describe(domain)}`,
      );
    }
    if (!Number.isInteger(version) || version < 1) {
      throw new OnnxError(
        `${WHERE}.opsetImport: expected version to be a positive integer but received ${describe(version)}`,
      );
    }
    this.domains.set(domain, version);
    return this;
  }

  /** Declares a graph input. Strings in `shape` are symbolic dims (e.g. 'N' for a dynamic batch). */
  input(name: string, shape: readonly OnnxDim[], elemType: OnnxElemType = 'float'): this {
    this.inputs.push(this.valueInfo(`${WHERE}.input`, name, shape, elemType));
    return this;
  }

  /** Declares a graph output; without `shape` its rank and sizes are left to ONNX Runtime to infer. */
  output(name: string, shape?: readonly OnnxDim[] | null, elemType: OnnxElemType = 'float'): this {
    this.outputs.push(this.valueInfo(`${WHERE}.output`, name, shape ?? null, elemType));
    return this;
  }

  /**
   * A constant tensor: a flexconv Tensor (float, its own shape unless `dims` is given), a
   * Float32Array (+ dims, default [length]), a BigInt64Array or int64(values, dims) for int64.
   */
  initializer(name: string, value: OnnxTensorValue, dims?: readonly number[]): this {
    checkName(`${WHERE}.initializer`, 'name', name);
    // Encode now so a bad value fails at the call that passed it, not later in toBytes().
    encodeTensor(`${WHERE}.initializer('${name}')`, name, value, dims);
    this.initializers.push({ name, value, dims });
    return this;
  }

  /** Appends a node. Nodes must be added in topological order. '' marks an omitted optional input. */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attrs: Record<string, OnnxAttrValue> = {},
    options: { domain?: string; name?: string } = {},
  ): this {
    const where = `${WHERE}.node`;
    checkName(where, 'opType', opType);
    const label = `${opType} node #${this.nodes.length}`;
    if (!Array.isArray(inputs) || !inputs.every((s) => typeof s === 'string')) {
      throw new OnnxError(
        `${where}: expected inputs of the ${label} to be an array of strings but received ${describe(inputs)}`,
      );
    }
    if (!Array.isArray(outputs) || outputs.length === 0 || !outputs.every((s) => typeof s === 'string' && s !== '')) {
      throw new OnnxError(
        `${where}: expected outputs of the ${label} to be a non-empty array of non-empty strings but received ${describe(outputs)}`,
      );
    }
    if (attrs === null || typeof attrs !== 'object') {
      throw new OnnxError(`${where}: expected attrs of the ${label} to be an object but received ${describe(attrs)}`);
    }
    // Validate attribute values eagerly for the same reason as initializers.
    for (const [key, value] of Object.entries(attrs)) encodeAttribute(`${where}(${label})`, key, value);
    const domain = options.domain ?? '';
    this.nodes.push({
      opType,
      inputs: [...inputs],
      outputs: [...outputs],
      attrs: { ...attrs },
      domain,
      name: options.name ?? `${opType}_${this.nodes.length}`,
    });
    return this;
  }

  /** The ModelProto as protobuf bytes. */
  toBytes(): Uint8Array {
    this.validate();
    const graph = new ProtoWriter();
    for (const n of this.nodes) graph.message(1, encodeNode(n));
    graph.string(2, this.graphName);
    for (const init of this.initializers) {
      graph.message(5, encodeTensor(`${WHERE}.initializer('${init.name}')`, init.name, init.value, init.dims));
    }
    for (const v of this.inputs) graph.message(11, encodeValueInfo(v));
    for (const v of this.outputs) graph.message(12, encodeValueInfo(v));

    const model = new ProtoWriter();
    model.int(1, this.irVersion);
    model.string(2, this.producerName);
    model.message(7, graph);
    model.message(8, new ProtoWriter().string(1, '').int(2, this.opset));
    for (const [domain, version] of this.domains) model.message(8, new ProtoWriter().string(1, domain).int(2, version));
    return model.finish();
  }

  private valueInfo(where: string, name: string, shape: readonly OnnxDim[] | null, elemType: OnnxElemType): ValueInfo {
    checkName(where, 'name', name);
    if (shape !== null) {
      const ok =
        Array.isArray(shape) &&
        shape.every(
          (d) => d === null || (typeof d === 'string' && d !== '') || (Number.isInteger(d) && (d as number) >= 0),
        );
      if (!ok) {
        throw new OnnxError(
          `${where}('${name}'): expected shape to be an array of non-negative integers, symbolic dim names or null but received ${describe(shape)}`,
        );
      }
    }
    if (!(elemType in DTYPE)) {
      throw new OnnxError(
        `${where}('${name}'): expected elemType to be one of ${Object.keys(DTYPE).join(', ')} but received ${describe(elemType)}`,
      );
    }
    return { name, elemType, shape: shape === null ? null : [...shape] };
  }

  private validate(): void {
    const defined = new Map<string, string>();
    const define = (name: string, by: string): void => {
      const before = defined.get(name);
      if (before !== undefined)
        throw new OnnxError(`${WHERE}.toBytes: '${name}' is defined twice (by ${before} and by ${by})`);
      defined.set(name, by);
    };
    for (const v of this.inputs) define(v.name, 'a graph input');
    for (const i of this.initializers) define(i.name, 'an initializer');
    this.nodes.forEach((n, index) => {
      for (const input of n.inputs) {
        if (input !== '' && !defined.has(input)) {
          throw new OnnxError(
            `${WHERE}.toBytes: input '${input}' of ${n.opType} node #${index} ('${n.name}') is not a graph input, an initializer or an output of an earlier node`,
          );
        }
      }
      if (n.domain !== '' && n.domain !== 'ai.onnx' && !this.domains.has(n.domain)) {
        throw new OnnxError(
          `${WHERE}.toBytes: ${n.opType} node #${index} uses domain '${n.domain}', which is not imported; pass domains: { '${n.domain}': <version> }`,
        );
      }
      for (const output of n.outputs) define(output, `${n.opType} node #${index}`);
    });
    if (this.outputs.length === 0)
      throw new OnnxError(`${WHERE}.toBytes: the graph has no outputs; call output(name) at least once`);
    for (const o of this.outputs) {
      if (!defined.has(o.name))
        throw new OnnxError(
          `${WHERE}.toBytes: graph output '${o.name}' is not produced by any node, input or initializer`,
        );
    }
  }
}

function encodeValueInfo(v: ValueInfo): ProtoWriter {
  const tensorType = new ProtoWriter().int(1, DTYPE[v.elemType]);
  if (v.shape !== null) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      const dim = new ProtoWriter();
      if (typeof d === 'number') dim.int(1, d);
      else if (typeof d === 'string') dim.string(2, d);
      shape.message(1, dim);
    }
    tensorType.message(2, shape);
  }
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

function encodeNode(n: NodeEntry): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [key, value] of Object.entries(n.attrs)) w.message(5, encodeAttribute(`${WHERE}.node`, key, value));
  if (n.domain !== '') w.string(7, n.domain);
  return w;
}

function isTensorValue(v: unknown): v is OnnxTensorValue {
  return (
    v instanceof Tensor ||
    v instanceof Float32Array ||
    v instanceof BigInt64Array ||
    (typeof v === 'object' && v !== null && ('int64' in v || 'float' in v))
  );
}

function isTypedAttr(v: unknown): v is TypedAttr {
  return (
    typeof v === 'object' && v !== null && 'type' in v && 'value' in v && typeof (v as TypedAttr).type === 'string'
  );
}

function encodeAttribute(where: string, key: string, value: OnnxAttrValue): ProtoWriter {
  let typed: TypedAttr;
  if (isTypedAttr(value)) typed = value;
  else if (typeof value === 'bigint') typed = { type: 'int', value };
  else if (typeof value === 'number')
    typed = Number.isInteger(value) ? { type: 'int', value } : { type: 'float', value };
  else if (typeof value === 'string') typed = { type: 'string', value };
  else if (isTensorValue(value)) typed = { type: 'tensor', value };
  else if (Array.isArray(value)) {
    typed = value.every(isIntegerish) ? { type: 'ints', value } : { type: 'floats', value: value as number[] };
  } else {
    throw new OnnxError(`${where}: attribute '${key}' has an unsupported value ${describe(value)}`);
  }

  const w = new ProtoWriter().string(1, key);
  const bad = (what: string): never => {
    throw new OnnxError(`${where}: expected attribute '${key}' to be ${what} but received ${describe(typed.value)}`);
  };
  switch (typed.type) {
    case 'int':
      if (!isIntegerish(typed.value)) bad('an integer');
      w.int(3, typed.value);
      break;
    case 'float':
      if (typeof typed.value !== 'number' || Number.isNaN(typed.value)) bad('a number');
      w.float(2, typed.value);
      break;
    case 'string':
      if (typeof typed.value !== 'string') bad('a string');
      w.string(4, typed.value);
      break;
    case 'ints': {
      const v = typed.value;
      if (!isArrayLike(v) || !Array.from(v).every(isIntegerish)) bad('an array of integers');
      w.packedInts(8, v);
      break;
    }
    case 'floats': {
      const v = typed.value;
      if (!isArrayLike(v) || !Array.from(v).every((x) => typeof x === 'number' && !Number.isNaN(x)))
        bad('an array of numbers');
      w.packedFloats(7, v);
      break;
    }
    case 'tensor':
      w.message(5, encodeTensor(`${where}: attribute '${key}'`, '', typed.value));
      break;
    default:
      throw new OnnxError(
        `${where}: attribute '${key}' has unknown type ${describe((typed as { type: unknown }).type)}`,
      );
  }
  w.int(20, ATTR[typed.type]);
  return w;
}

function isArrayLike(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || ArrayBuffer.isView(v);
}

function numel(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** A TensorProto: float data as raw little-endian bytes, int64 as packed int64_data. */
function encodeTensor(
  where: string,
  name: string,
  value: OnnxTensorValue,
  dimsOverride?: readonly number[],
): ProtoWriter {
  let dims: readonly number[] | undefined = dimsOverride;
  let floatData: Float32Array | null = null;
  let intData: ArrayLike<number | bigint> | null = null;
  if (value instanceof Tensor) {
    if (value.device !== 'cpu')
      throw new OnnxError(`${where}: the tensor is on ${value.device}; move it to the CPU first`);
    floatData = value.data;
    dims = dims ?? value.shape;
  } else if (value instanceof Float32Array) {
    floatData = value;
  } else if (value instanceof BigInt64Array) {
    intData = value;
  } else if (typeof value === 'object' && value !== null && 'int64' in value) {
    intData = value.int64;
    dims = dims ?? value.dims;
    if (!isArrayLike(intData) || !Array.from(intData).every(isIntegerish)) {
      throw new OnnxError(`${where}: expected int64 data to be an array of integers but received ${describe(intData)}`);
    }
  } else if (typeof value === 'object' && value !== null && 'float' in value) {
    floatData = value.float instanceof Float32Array ? value.float : Float32Array.from(value.float as ArrayLike<number>);
    dims = dims ?? value.dims;
  } else {
    throw new OnnxError(
      `${where}: expected a Tensor, a Float32Array, a BigInt64Array or int64(values) but received ${describe(value)}` +
        (Array.isArray(value) ? ' (wrap plain arrays: Float32Array.from(...) for float, int64([...]) for int64)' : ''),
    );
  }
  const count = (floatData ?? intData)!.length;
  dims = dims ?? [count];
  if (
    !isArrayLike(dims) ||
    !Array.from(dims as ArrayLike<unknown>).every((d) => Number.isInteger(d) && (d as number) >= 0)
  ) {
    throw new OnnxError(
      `${where}: expected dims to be an array of non-negative integers but received ${describe(dims)}`,
    );
  }
  if (numel(dims) !== count) {
    throw new OnnxError(`${where}: dims [${dims.join(', ')}] hold ${numel(dims)} values but the data has ${count}`);
  }
  const w = new ProtoWriter();
  if (dims.length > 0) w.packedInts(1, dims);
  w.int(2, floatData ? DTYPE.float : DTYPE.int64);
  if (name !== '') w.string(8, name);
  if (floatData) {
    // raw_data is little-endian; every platform Node runs on is little-endian.
    w.bytes(9, new Uint8Array(floatData.buffer, floatData.byteOffset, floatData.byteLength).slice());
  } else {
    w.packedInts(7, intData!);
  }
  return w;
}
