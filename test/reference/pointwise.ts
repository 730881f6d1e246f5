/**
 * Naive float64 references for the pointwise family: broadcasting binary ops, reductions over
 * dimension sets, permute, softmax, cross-entropy. Written index by index, as plainly as possible.
 */

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Multi-index of flat position i in shape. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let i = 0;
  for (let d = 0; d < shape.length; d++) i = i * shape[d] + idx[d];
  return i;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[i - (n - a.length)] ?? 1;
    const db = b[i - (n - b.length)] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error('not broadcastable');
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Value of `x` (shape `shape`) at output multi-index `idx` under broadcasting. */
function at(x: ArrayLike<number>, shape: readonly number[], idx: readonly number[]): number {
  const lead = idx.length - shape.length;
  const own = shape.map((d, k) => (d === 1 ? 0 : idx[k + lead]));
  return x[ravel(own, shape)];
}

export function refBinary(
  f: (a: number, b: number) => number,
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
): { data: Float64Array; shape: number[] } {
  const shape = broadcastShape(aShape, bShape);
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    data[i] = f(at(a, aShape, idx), at(b, bShape, idx));
  }
  return { data, shape };
}

/** Sum over `dims` with keepDim semantics (returns the keepDim shape). */
export function refSum(
  x: ArrayLike<number>,
  shape: readonly number[],
  dims: readonly number[],
): { data: Float64Array; shape: number[] } {
  const outShape = shape.map((d, k) => (dims.includes(k) ? 1 : d));
  const data = new Float64Array(numel(outShape));
  for (let i = 0; i < numel(shape); i++) {
    const idx = unravel(i, shape);
    const o = idx.map((v, k) => (dims.includes(k) ? 0 : v));
    data[ravel(o, outShape)] += x[i];
  }
  return { data, shape: outShape };
}

export function refPermute(x: ArrayLike<number>, shape: readonly number[], dims: readonly number[]): Float64Array {
  const outShape = dims.map((d) => shape[d]);
  const out = new Float64Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    const o = unravel(i, outShape);
    const idx = new Array<number>(shape.length);
    dims.forEach((d, k) => (idx[d] = o[k]));
    out[i] = x[ravel(idx, shape)];
  }
  return out;
}

/** softmax or log-softmax along `dim`, in float64 with the max subtracted. */
export function refSoftmax(x: ArrayLike<number>, shape: readonly number[], dim: number, log: boolean): Float64Array {
  const out = new Float64Array(numel(shape));
  const outer = numel(shape.slice(0, dim));
  const n = shape[dim];
  const inner = numel(shape.slice(dim + 1));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const idx = (k: number): number => (o * n + k) * inner + i;
      let m = -Infinity;
      for (let k = 0; k < n; k++) m = Math.max(m, x[idx(k)]);
      let s = 0;
      for (let k = 0; k < n; k++) s += Math.exp(x[idx(k)] - m);
      for (let k = 0; k < n; k++) out[idx(k)] = log ? x[idx(k)] - m - Math.log(s) : Math.exp(x[idx(k)] - m) / s;
    }
  }
  return out;
}

/**
 * PyTorch's cross_entropy with class-index targets, written from its documented formula:
 * loss_i = (1 - eps) * (-log p_i[t_i]) + eps / C * sum_c (-log p_i[c]), ignored positions
 * contribute 0 and are not counted by 'mean'.
 */
export function refCrossEntropy(
  logits: ArrayLike<number>,
  shape: readonly number[],
  target: ArrayLike<number>,
  options: { labelSmoothing?: number; reduction?: 'mean' | 'sum' | 'none'; ignoreIndex?: number } = {},
): { perPosition: Float64Array; reduced: number } {
  const eps = options.labelSmoothing ?? 0;
  const ignore = options.ignoreIndex ?? -100;
  const N = shape[0],
    C = shape[1];
  const S = numel(shape.slice(2));
  const per = new Float64Array(N * S);
  let count = 0;
  for (let n = 0; n < N; n++) {
    for (let s = 0; s < S; s++) {
      const t = target[n * S + s];
      if (t === ignore) continue;
      count++;
      const v = (c: number): number => logits[(n * C + c) * S + s];
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, v(c));
      let z = 0;
      for (let c = 0; c < C; c++) z += Math.exp(v(c) - m);
      const logp = (c: number): number => v(c) - m - Math.log(z);
      let smooth = 0;
      for (let c = 0; c < C; c++) smooth -= logp(c);
      per[n * S + s] = (1 - eps) * -logp(t) + (eps / C) * smooth;
    }
  }
  const total = per.reduce((a, b) => a + b, 0);
  const reduction = options.reduction ?? 'mean';
  return { perPosition: per, reduced: reduction === 'sum' ? total : reduction === 'mean' ? total / count : NaN };
}
