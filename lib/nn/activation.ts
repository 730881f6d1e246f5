/** Activation layers: thin modules over the ops of the same name. */
import { checkNumber } from '../check';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { Module } from './module';

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return ops.relu(x);
  }
}

export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
    checkNumber('LeakyReLU', 'negativeSlope', negativeSlope);
  }

  forward(x: Tensor): Tensor {
    return ops.leakyRelu(x, this.negativeSlope);
  }

  protected override extraRepr(): string {
    return `negativeSlope=${this.negativeSlope}`;
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return ops.sigmoid(x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return ops.tanh(x);
  }
}

/** x * sigmoid(x) (a.k.a. swish). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return ops.silu(x);
  }
}
