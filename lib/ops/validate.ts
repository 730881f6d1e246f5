/**
 * Argument checks shared by the pointwise op files (elementwise, reduction, shape, softmax,
 * loss, dropout). Messages follow lib/check.ts: "<fn>: expected <name> to be <what> but received <value>".
 */
import { isInt, shapeString } from '../check';
import { ArgumentError, describe, DeviceError, ShapeError } from '../errors';
import { Tensor } from '../tensor';

export function checkTensor(where: string, name: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) {
    throw new ArgumentError(`${where}: expected ${name} to be a Tensor but received ${describe(x)}`);
  }
  if (x.isDisposed) throw new ArgumentError(`${where}: ${name} has been disposed`);
  return x;
}

export function checkSameDevice(where: string, names: readonly string[], tensors: readonly Tensor[]): void {
  for (let i = 1; i < tensors.length; i++) {
    if (tensors[i].device !== tensors[0].device) {
      throw new DeviceError(
        `${where}: ${names[0]} is on ${tensors[0].device} but ${names[i]} is on ${tensors[i].device}`,
      );
    }
  }
}

/** A dimension index in [-ndim, ndim) normalised to [0, ndim). */
export function normalizeDim(where: string, name: string, dim: unknown, ndim: number): number {
  if (!isInt(dim) || dim < -ndim || dim >= ndim) {
    const range = ndim === 0 ? 'no valid dimension (the tensor is 0-d)' : `an integer in [${-ndim}, ${ndim - 1}]`;
    throw new ArgumentError(`${where}: expected ${name} to be ${range} but received ${describe(dim)}`);
  }
  return dim < 0 ? dim + ndim : dim;
}

/** Distinct, sorted dimensions; undefined or null means all of them. */
export function normalizeDims(where: string, name: string, dims: unknown, ndim: number): number[] {
  if (dims === undefined || dims === null) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : dims;
  if (!Array.isArray(list)) {
    throw new ArgumentError(
      `${where}: expected ${name} to be an integer or an array of integers but received ${describe(dims)}`,
    );
  }
  const out = list.map((d, i) => normalizeDim(where, Array.isArray(dims) ? `${name}[${i}]` : name, d, ndim));
  const unique = [...new Set(out)].sort((a, b) => a - b);
  if (unique.length !== out.length) {
    throw new ArgumentError(`${where}: expected ${name} to hold distinct dimensions but received ${describe(dims)}`);
  }
  return unique;
}

/** NumPy broadcasting of two shapes, or a ShapeError naming both arguments. */
export function broadcastShapes(
  where: string,
  names: [string, string],
  a: readonly number[],
  b: readonly number[],
): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const da = i + a.length >= n ? a[i + a.length - n] : 1;
    const db = i + b.length >= n ? b[i + b.length - n] : 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        `${where}: expected ${names[0]} and ${names[1]} to have broadcastable shapes but received ${shapeString(a)} and ${shapeString(b)}`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * PyTorch's rule for spatial ops: an image of zero height or width is refused (an empty batch
 * is a valid batch; an empty image is a mistake, e.g. a crop that went wrong). conv2d also
 * accepts zero channels (zeroChannelsOk), as PyTorch does; pooling does not.
 */
export function checkNonEmptyImage(where: string, name: string, x: Tensor, zeroChannelsOk = false): void {
  const first = x.ndim === 4 ? 1 : 0;
  const c = x.shape[first],
    h = x.shape[first + 1],
    w = x.shape[first + 2];
  if (h === 0 || w === 0 || (c === 0 && !zeroChannelsOk)) {
    const what = zeroChannelsOk
      ? 'non-zero height and width (only the batch or the channels may be 0)'
      : 'non-zero channels, height and width (only the batch may be 0)';
    throw new ShapeError(`${where}: expected ${name} with ${what} but received shape ${shapeString(x.shape)}`);
  }
}
