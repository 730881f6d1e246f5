/**
 * Shape ops: reshape, flatten, permute, concat, split, slice. Tensors are always contiguous,
 * so reshape and flatten are views (shared storage) while permute, concat, split and slice
 * copy (native/cpu/shape.cc: strided block copies, bounds-checked by the binding).
 */
import { record } from '../autograd';
import { isInt, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { reshapeRecorded, resolveShape, Tensor } from '../tensor';
import { checkSameDevice, checkTensor, normalizeDim, numelOf } from './validate';

/** Same data, new shape (one dimension may be -1). Shares storage with x. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', 'x', x);
  const resolved = resolveShape('reshape', shape, x.numel, x.shape);
  return reshapeRecorded(x, resolved);
}

/** Merges dimensions startDim..endDim (inclusive) into one. */
export function flatten(x: Tensor, startDim = 1, endDim = -1): Tensor {
  checkTensor('flatten', 'x', x);
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim('flatten', 'startDim', startDim, x.ndim);
  const e = normalizeDim('flatten', 'endDim', endDim, x.ndim);
  if (s > e)
    throw new ArgumentError(
      `flatten: expected startDim <= endDim but received startDim ${startDim} and endDim ${endDim}`,
    );
  const shape = [...x.shape.slice(0, s), numelOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

/** Reorders dimensions: output dimension i is input dimension dims[i]. Copies. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  checkTensor('permute', 'x', x);
  if (!Array.isArray(dims) || dims.length !== x.ndim) {
    throw new ArgumentError(
      `permute: expected dims to be an array of ${x.ndim} dimensions but received ${describe(dims)}`,
    );
  }
  const d = dims.map((v, i) => normalizeDim('permute', `dims[${i}]`, v, x.ndim));
  if (new Set(d).size !== d.length) {
    throw new ArgumentError(
      `permute: expected dims to be a permutation of 0..${x.ndim - 1} but received ${describe(dims)}`,
    );
  }
  const out = Tensor.empty(
    d.map((k) => x.shape[k]),
    { device: x.device },
  );
  native().permute(x, d, out);
  const inverse = new Array<number>(d.length);
  d.forEach((k, i) => (inverse[k] = i));
  return record('permute', [x], out, (g) => [permute(g, inverse)], {
    type: 'Transpose',
    inputs: [x],
    attrs: { perm: d },
  });
}

/** outer = product of dims before `dim`, inner = product after it. */
function around(shape: readonly number[], dim: number): [number, number] {
  return [numelOf(shape.slice(0, dim)), numelOf(shape.slice(dim + 1))];
}

/** Joins tensors along `dim`; all other dimensions must match. */
export function concat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) {
    throw new ArgumentError(
      `concat: expected tensors to be a non-empty array of Tensors but received ${describe(tensors)}`,
    );
  }
  tensors.forEach((t, i) => checkTensor('concat', `tensors[${i}]`, t));
  const first: Tensor = tensors[0];
  const d = normalizeDim('concat', 'dim', dim, first.ndim);
  checkSameDevice(
    'concat',
    tensors.map((_, i) => `tensors[${i}]`),
    tensors,
  );
  let total = 0;
  tensors.forEach((t: Tensor, i: number) => {
    if (t.ndim !== first.ndim || t.shape.some((s, k) => k !== d && s !== first.shape[k])) {
      throw new ShapeError(
        `concat: expected tensors[${i}] to match tensors[0] (shape ${shapeString(first.shape)}) except in dimension ${d} but received shape ${shapeString(t.shape)}`,
      );
    }
    total += t.shape[d];
  });
  const shape = first.shape.map((s, k) => (k === d ? total : s));
  const out = Tensor.empty(shape, { device: first.device });
  const [outer, inner] = around(shape, d);
  const rowOut = total * inner;
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const cols = t.shape[d] * inner;
    native().copyRows(t, 0, cols, out, offset, rowOut, outer, cols, false);
    offsets.push(offset);
    offset += cols;
  }
  return record(
    'concat',
    tensors,
    out,
    (g) =>
      tensors.map((t, i) => {
        if (!t.requiresGrad) return null;
        const cols = t.shape[d] * inner;
        const gi = Tensor.empty(t.shape, { device: t.device });
        native().copyRows(g, offsets[i], rowOut, gi, 0, cols, outer, cols, false);
        return gi;
      }),
    { type: 'Concat', inputs: tensors, attrs: { axis: d } },
  );
}

/** x[..., start:end, ...] along `dim` (negative indices count from the end; clamped like Python). Copies. */
export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  checkTensor('slice', 'x', x);
  const d = normalizeDim('slice', 'dim', dim, x.ndim);
  const size = x.shape[d];
  const s = clampIndex('slice', 'start', start, size);
  const e = end === undefined ? size : clampIndex('slice', 'end', end, size);
  return sliceRange(x, d, s, Math.max(s, e));
}

function clampIndex(where: string, name: string, v: unknown, size: number): number {
  if (!isInt(v)) throw new ArgumentError(`${where}: expected ${name} to be an integer but received ${describe(v)}`);
  const i = v < 0 ? v + size : v;
  return Math.min(Math.max(i, 0), size);
}

function sliceRange(x: Tensor, d: number, start: number, end: number): Tensor {
  const shape = x.shape.map((s, k) => (k === d ? end - start : s));
  const out = Tensor.empty(shape, { device: x.device });
  const [outer, inner] = around(x.shape, d);
  const rowIn = x.shape[d] * inner;
  const cols = (end - start) * inner;
  native().copyRows(x, start * inner, rowIn, out, 0, cols, outer, cols, false);
  return record(
    'slice',
    [x],
    out,
    (g) => {
      const gx = Tensor.zeros(x.shape, { device: x.device });
      native().copyRows(g, 0, cols, gx, start * inner, rowIn, outer, cols, false);
      return [gx];
    },
    (ctx) => {
      ctx.node('Slice', [ctx.name(x), ctx.ints([start]), ctx.ints([end]), ctx.ints([d])], [ctx.output]);
    },
  );
}

/**
 * Splits x along `dim` into pieces of `sizes[i]` (summing to the dimension's size) or, for a
 * number, pieces of that size (the last one may be smaller), as torch.split.
 */
export function split(x: Tensor, sizes: number | readonly number[], dim = 0): Tensor[] {
  checkTensor('split', 'x', x);
  const d = normalizeDim('split', 'dim', dim, x.ndim);
  const size = x.shape[d];
  let pieces: number[];
  if (typeof sizes === 'number') {
    if (!isInt(sizes) || sizes < 1)
      throw new ArgumentError(
        `split: expected sizes to be a positive integer or an array of non-negative integers but received ${describe(sizes)}`,
      );
    pieces = [];
    for (let s = 0; s < size; s += sizes) pieces.push(Math.min(sizes, size - s));
    if (pieces.length === 0) pieces.push(0);
  } else if (Array.isArray(sizes) && sizes.every((s) => isInt(s) && s >= 0)) {
    pieces = [...sizes];
    const total = pieces.reduce((a, b) => a + b, 0);
    if (total !== size) {
      throw new ShapeError(
        `split: expected sizes to sum to ${size} (dimension ${d} of shape ${shapeString(x.shape)}) but they sum to ${total}`,
      );
    }
  } else {
    throw new ArgumentError(
      `split: expected sizes to be a positive integer or an array of non-negative integers but received ${describe(sizes)}`,
    );
  }
  const out: Tensor[] = [];
  let start = 0;
  for (const p of pieces) {
    out.push(sliceRange(x, d, start, start + p));
    start += p;
  }
  return out;
}
