/**
 * The ONNX form of an op: what each op declares next to its forward and backward (its record()
 * call) and the tracer turns into graph nodes during an export. Types only, so the bottom of
 * the library (autograd, Tensor) can name them without loading the exporter.
 */
import type { Tensor } from '../tensor';
import type { OnnxAttrValue } from './builder';

/** A one-node ONNX form: op type, attributes and the op's inputs in ONNX order (null = omitted optional input). */
export interface OnnxNodeSpec {
  type: string;
  inputs: readonly (Tensor | null | undefined)[];
  attrs?: Record<string, OnnxAttrValue>;
  domain?: string;
}

/** What a multi-node ONNX form gets to build its nodes with. */
export interface OnnxEmitContext {
  /** The flexconv op being exported. */
  readonly op: string;
  readonly opset: number;
  readonly dynamicBatch: boolean;
  /** The name the op's output must end up with (the last node writes it). */
  readonly output: string;
  /** The graph name of a tensor ('' for null/undefined: an omitted optional input). */
  name(t: Tensor | null | undefined): string;
  /** Appends a node; returns its output names (fresh ones unless given). */
  node(
    type: string,
    inputs: readonly string[],
    outputs?: readonly string[] | number,
    attrs?: Record<string, OnnxAttrValue>,
  ): string[];
  /** A float constant initializer; returns its name. */
  constant(values: ArrayLike<number>, dims: readonly number[]): string;
  /** An int64 constant initializer (shapes, axes, starts...); returns its name. */
  ints(values: readonly number[]): string;
  /** A Reshape target for a tensor whose first dimension is the batch (0 keeps it: dynamicBatch-safe). */
  reshapeTarget(from: readonly number[], to: readonly number[]): string;
  /** Throws an OnnxError naming the op and the layer it was called from. */
  fail(message: string): never;
}

export type OnnxForm = OnnxNodeSpec | ((ctx: OnnxEmitContext) => void);
