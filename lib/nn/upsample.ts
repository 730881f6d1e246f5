/** Upsample (torch.nn.Upsample) over ops.interpolate: by size or scale factor, nearest or bilinear. */
import { ArgumentError } from '../errors';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { Module } from './module';

export interface UpsampleOptions {
  size?: number | [number, number];
  scaleFactor?: number | [number, number];
  mode?: 'nearest' | 'bilinear';
  alignCorners?: boolean;
}

export class Upsample extends Module {
  readonly options: UpsampleOptions;

  constructor(options: UpsampleOptions) {
    super();
    if (!options || (options.size === undefined) === (options.scaleFactor === undefined)) {
      throw new ArgumentError('Upsample: expected exactly one of size and scaleFactor');
    }
    this.options = { mode: 'nearest', ...options };
  }

  forward(x: Tensor): Tensor {
    return ops.interpolate(x, this.options);
  }
}
