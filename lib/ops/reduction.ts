/**
 * Reductions: sum and mean over any set of dimensions (keepDim like PyTorch), argmax.
 * Kernel: native/cpu/reduction.cc (deterministic at any thread count, partial sums in double).
 */
import { record } from '../autograd';
import { ArgumentError, describe } from '../errors';
import { native } from '../native';
import { Tensor } from '../tensor';
import { expand } from './broadcast';
import { scale as scaleBy } from './elementwise';
import { checkTensor, normalizeDim, normalizeDims } from './validate';

function reduce(
  name: string,
  x: Tensor,
  dims: number | readonly number[] | undefined | null,
  keepDim: unknown,
  mean: boolean,
): Tensor {
  checkTensor(name, 'x', x);
  if (typeof keepDim !== 'boolean') {
    throw new ArgumentError(`${name}: expected keepDim to be a boolean but received ${describe(keepDim)}`);
  }
  const list = normalizeDims(name, 'dims', dims, x.ndim);
  const reduced = new Set(list);
  let count = 1;
  const keptShape: number[] = [];
  const keepShape: number[] = [];
  x.shape.forEach((d, i) => {
    if (reduced.has(i)) {
      count *= d;
      keepShape.push(1);
    } else {
      keptShape.push(d);
      keepShape.push(d);
    }
  });
  const scale = mean ? 1 / count : 1;
  const out = Tensor.empty(keepDim ? keepShape : keptShape, { device: x.device });
  native().sumDims(x, list, out, scale);
  return record(
    name,
    [x],
    out,
    (g) => {
      const g1 = g.rawView(keepShape);
      const gx = expand(g1, x.shape);
      if (gx !== g1) g1.dispose();
      if (!mean) return [gx];
      const scaled = scaleBy(gx, scale);
      gx.dispose();
      return [scaled];
    },
    (ctx) => {
      const type = mean ? 'ReduceMean' : 'ReduceSum';
      const keepdims = keepDim ? 1 : 0;
      // Axes became an input in opset 13 for ReduceSum and in opset 18 for ReduceMean.
      if (ctx.opset >= (mean ? 18 : 13)) ctx.node(type, [ctx.name(x), ctx.ints(list)], [ctx.output], { keepdims });
      else ctx.node(type, [ctx.name(x)], [ctx.output], { axes: list, keepdims });
    },
  );
}

/** Sum over `dims` (all dimensions if omitted), dropping them unless keepDim. */
export function sum(x: Tensor, dims?: number | readonly number[] | null, keepDim = false): Tensor {
  return reduce('sum', x, dims, keepDim, false);
}

/** Mean over `dims` (all dimensions if omitted), dropping them unless keepDim. */
export function mean(x: Tensor, dims?: number | readonly number[] | null, keepDim = false): Tensor {
  return reduce('mean', x, dims, keepDim, true);
}

/** Indices of the maxima along `dim` (first one on ties), as float values; not differentiable. */
export function argmax(x: Tensor, dim: number, keepDim = false): Tensor {
  checkTensor('argmax', 'x', x);
  const d = normalizeDim('argmax', 'dim', dim, x.ndim);
  if (x.shape[d] === 0)
    throw new ArgumentError(
      `argmax: expected dimension ${d} of x to be non-empty but x has shape [${x.shape.join(', ')}]`,
    );
  const shape = x.shape.map((s, i) => (i === d ? 1 : s));
  const out = Tensor.empty(keepDim ? shape : shape.filter((_, i) => i !== d), { device: x.device });
  native().argmax(x, d, out);
  return out;
}
