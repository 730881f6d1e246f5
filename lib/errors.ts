/**
 * Typed errors. Every error flexconv raises — from TypeScript or from the native addon —
 * is a FlexconvError subclass with a stable `code`, so callers can branch on it:
 *
 *   try { ... } catch (e) { if (e instanceof ShapeError) ... }
 */
export type ErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_SHAPE_MISMATCH'
  | 'ERR_DEVICE'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_INTERNAL'
  | 'ERR_AUTOGRAD'
  | 'ERR_NATIVE_LOAD'
  | 'ERR_IO'
  | 'ERR_ONNX'
  | 'ERR_DISTRIBUTED';

export class FlexconvError extends Error {
  readonly code: ErrorCode;
  constructor(message: string, code: ErrorCode = 'ERR_INTERNAL') {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A value outside its allowed range: a negative size, an unknown mode, a non-integer. */
export class ArgumentError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_INVALID_ARGUMENT');
  }
}

/** Tensor shapes that do not fit together. */
export class ShapeError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_SHAPE_MISMATCH');
  }
}

/** Tensors on different devices, or a device that is not available. */
export class DeviceError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_DEVICE');
  }
}

export class OutOfMemoryError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_OUT_OF_MEMORY');
  }
}

/** A bug in flexconv. Please report it with the message. */
export class InternalError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_INTERNAL');
  }
}

/** Misuse of the autograd graph: backward twice, backward on a tensor without a graph... */
export class AutogradError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_AUTOGRAD');
  }
}

/** The native addon could not be loaded. */
export class NativeLoadError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_NATIVE_LOAD');
  }
}

/** A file could not be read or written, or its content is malformed. */
export class IoError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_IO');
  }
}

/** An ONNX export or ONNX Runtime problem. */
export class OnnxError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_ONNX');
  }
}

/** Multi-process training: MPI missing or failing, ranks that disagree (lib/distributed). */
export class DistributedError extends FlexconvError {
  constructor(message: string) {
    super(message, 'ERR_DISTRIBUTED');
  }
}

/** The classes the native addon instantiates, by code. */
export const nativeErrorClasses = {
  ERR_INVALID_ARGUMENT: ArgumentError,
  ERR_SHAPE_MISMATCH: ShapeError,
  ERR_DEVICE: DeviceError,
  ERR_OUT_OF_MEMORY: OutOfMemoryError,
  ERR_INTERNAL: InternalError,
};

/** "number 3.5", "string \"a\"", "object", for messages of the form "...but received X". */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `array [${value.map((v) => describe(v)).join(', ')}]`;
  switch (typeof value) {
    case 'number':
    case 'bigint':
    case 'boolean':
      return `${String(value)} of type ${typeof value}`;
    case 'string':
      return `"${value}" of type string`;
    case 'undefined':
      return 'undefined';
    default: {
      const name = (value as object).constructor?.name;
      return name ? `an instance of ${name}` : `${typeof value}`;
    }
  }
}
