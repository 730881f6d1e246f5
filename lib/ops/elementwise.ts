/**
 * Elementwise arithmetic. (Scaffold: the helpers autograd needs; the full family with
 * broadcasting and native kernels lives here too.)
 */
import { expectShape } from '../check';
import { DeviceError } from '../errors';
import { Tensor } from '../tensor';
import { record } from '../autograd';

function sameShape(where: string, a: Tensor, b: Tensor): void {
  expectShape(where, 'b', b.shape, a.shape);
  if (a.device !== b.device) throw new DeviceError(`${where}: a is on ${a.device} but b is on ${b.device}`);
}

/** a + b for tensors of the same shape. */
export function add(a: Tensor, b: Tensor): Tensor {
  sameShape('add', a, b);
  const out = Tensor.empty(a.shape);
  const x = a.data, y = b.data, o = out.data;
  for (let i = 0; i < o.length; i++) o[i] = x[i] + y[i];
  return record('add', [a, b], out, (g) => [g, g]);
}

/** a += b in place (not recorded by autograd). */
export function addInPlace(a: Tensor, b: Tensor): Tensor {
  sameShape('addInPlace', a, b);
  const x = a.data, y = b.data;
  for (let i = 0; i < x.length; i++) x[i] += y[i];
  return a;
}
