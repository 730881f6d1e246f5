/**
 * The two halves of broadcasting: `expand` (copy a tensor up to a larger broadcast shape) and
 * `sumTo` (sum a gradient back down to an input's shape). Each is the other's gradient, and
 * every broadcasting op's backward ends in sumTo.
 */
import { record } from '../autograd';
import { checkShape, shapeString } from '../check';
import { ShapeError } from '../errors';
import { native } from '../native';
import { BinaryCode } from '../native_api';
import { Tensor } from '../tensor';
import { broadcastShapes, checkTensor, sameShape } from './validate';

/** Code of the native "out = b" binary op (native/math/pointwise.h kSecond). */
export const BINARY_SECOND = BinaryCode.second;

/** x broadcast (NumPy rules) to `shape`, as a new contiguous tensor. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('expand', 'x', x);
  const target = checkShape('expand', 'shape', shape);
  const b = broadcastShapes('expand', ['x', 'shape'], x.shape, target);
  if (!sameShape(b, target)) {
    throw new ShapeError(
      `expand: expected x to broadcast to ${shapeString(target)} but received shape ${shapeString(x.shape)}`,
    );
  }
  if (sameShape(x.shape, target)) return record('expand', [x], x.rawView(target), (g) => [g]);
  const out = Tensor.empty(target, { device: x.device });
  native().binary(x, x, out, BINARY_SECOND);
  return record('expand', [x], out, (g) => [sumTo(g, x.shape)]);
}

/** The dimensions of `from` that must be summed to reach `to` (to broadcasts to from). */
export function reducedDims(from: readonly number[], to: readonly number[]): number[] {
  const lead = from.length - to.length;
  const dims: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < lead || (to[i - lead] === 1 && from[i] !== 1)) dims.push(i);
  }
  return dims;
}

/** Sums x over its broadcast dimensions so the result has `shape` (x must be a broadcast of shape). */
export function sumTo(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('sumTo', 'x', x);
  checkShape('sumTo', 'shape', shape);
  if (sameShape(x.shape, shape)) return x;
  const b = broadcastShapes('sumTo', ['x', 'shape'], x.shape, shape);
  if (!sameShape(b, x.shape)) {
    throw new ShapeError(
      `sumTo: expected x to be a broadcast of shape ${shapeString(shape)} but received shape ${shapeString(x.shape)}`,
    );
  }
  const out = Tensor.empty(shape, { device: x.device });
  native().sumDims(x, reducedDims(x.shape, shape), out, 1);
  return record('sumTo', [x], out, (g) => [expand(g, x.shape)]);
}
