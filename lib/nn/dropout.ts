/** Dropout: zeroes elements with probability p in training mode and scales the rest by 1 / (1 - p). */
import { ArgumentError, describe } from '../errors';
import * as ops from '../ops';
import { Generator } from '../random';
import { Tensor } from '../tensor';
import { Module } from './module';

export class Dropout extends Module {
  constructor(
    readonly p = 0.5,
    readonly generator?: Generator,
  ) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
      throw new ArgumentError(`Dropout: expected p to be a number in [0, 1] but received ${describe(p)}`);
    }
  }

  forward(x: Tensor): Tensor {
    return ops.dropout(x, this.p, this.training, this.generator);
  }
}
