/**
 * What the fuzzer feeds: junk values of every JavaScript type, extreme and malformed numbers,
 * shapes with zero, huge, negative and fractional sizes, tensors of the wrong rank, size or
 * contents (NaN, Inf), and random option objects. Everything derives from one Generator, so a
 * case number reproduces its inputs exactly.
 */
import { Generator } from '../../lib/random';
import { Tensor } from '../../lib/tensor';

export const JUNK: readonly unknown[] = [
  null,
  undefined,
  NaN,
  Infinity,
  -Infinity,
  -1,
  0,
  1.5,
  2 ** 31,
  2 ** 53,
  -(2 ** 31),
  '3',
  '',
  true,
  {},
  [],
  [1, 2],
  [1, 2, 3, 4, 5, 6],
  [-1, 2],
  [NaN, 1],
  { x: 1 },
  () => 1,
  1n,
  Symbol('junk'),
  new Float32Array(3),
  new Map(),
];

export function pick<T>(g: Generator, items: readonly T[]): T {
  return items[g.int(items.length)];
}

/** A small, usually valid size, sometimes 0; rarely huge, negative or fractional. */
export function size(g: Generator, small = 6): number {
  const r = g.uniform();
  if (r < 0.85) return 1 + g.int(small);
  if (r < 0.9) return 0;
  return pick(g, [-1, 1.5, 2 ** 31, 2 ** 40, NaN, 65536]);
}

/** A tensor of `shape` (only called with small valid shapes) with, sometimes, NaN / Inf inside. */
export function tensor(g: Generator, shape: number[]): Tensor {
  const t = Tensor.randn(shape);
  if (t.numel > 0 && g.uniform() < 0.1) t.data[g.int(t.numel)] = pick(g, [NaN, Infinity, -Infinity]);
  return t;
}

/** A tensor whose rank or sizes are probably wrong for its slot. */
export function wrongTensor(g: Generator): Tensor {
  const ndim = g.int(6);
  return Tensor.randn(Array.from({ length: ndim }, () => g.int(4)));
}

export interface Mutation {
  /** The value put in place of the valid one. */
  value: unknown;
  /** Certainly invalid wherever it goes (a non-Tensor for a Tensor, an unknown option key). */
  certain: boolean;
}

/** A replacement for a Tensor argument: junk (certainly invalid), or a tensor of the wrong shape. */
export function badTensorArg(g: Generator): Mutation {
  if (g.uniform() < 0.5) {
    const value = pick(g, JUNK);
    return { value, certain: !(value instanceof Tensor) && value !== undefined && value !== null };
  }
  return { value: wrongTensor(g), certain: false };
}

/** A replacement for a number or option value: junk or an extreme number. */
export function badValue(g: Generator): unknown {
  return pick(g, JUNK);
}
