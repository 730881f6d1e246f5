/** Flatten (torch.nn.Flatten): merges dims startDim..endDim, by default all but the batch. */
import { checkInt } from '../check';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { Module } from './module';

/** Flattens dims startDim..endDim (default: everything but the batch). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
    checkInt('Flatten', 'startDim', startDim);
    checkInt('Flatten', 'endDim', endDim);
  }

  forward(x: Tensor): Tensor {
    return ops.flatten(x, this.startDim, this.endDim);
  }
}
