/**
 * Dropout: in training, zeroes each element with probability p and scales the rest by
 * 1 / (1 - p); the identity when not training. The mask comes from a counter-based hash of
 * (seed, element index) in native code, the seed from a seedable Generator, so a run is
 * reproducible and independent of the thread count (and identical on CUDA).
 */
import { record } from '../autograd';
import { ArgumentError, describe } from '../errors';
import { native } from '../native';
import { defaultGenerator, Generator } from '../random';
import { Tensor } from '../tensor';
import { mul } from './elementwise';
import { checkTensor } from './validate';

export function dropout(x: Tensor, p = 0.5, training = true, generator?: Generator): Tensor {
  checkTensor('dropout', 'x', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
    throw new ArgumentError(`dropout: expected p to be a number in [0, 1] but received ${describe(p)}`);
  }
  if (typeof training !== 'boolean') {
    throw new ArgumentError(`dropout: expected training to be a boolean but received ${describe(training)}`);
  }
  if (generator !== undefined && !(generator instanceof Generator)) {
    throw new ArgumentError(`dropout: expected generator to be a Generator but received ${describe(generator)}`);
  }
  if (!training || p === 0) return x;
  const g = generator ?? defaultGenerator;
  const out = Tensor.empty(x.shape, { device: x.device });
  const mask = Tensor.empty(x.shape, { device: x.device });
  native().dropout(x, out, mask, p, g.nextUint32(), g.nextUint32());
  return record('dropout', [x], out, (grad) => [mul(grad, mask)]);
}
