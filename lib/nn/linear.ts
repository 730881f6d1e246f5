/** Linear (torch.nn.Linear, weight [out, in]) and Identity. */
import { checkInt, expectOptionsObject, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import * as ops from '../ops';
import { Tensor } from '../tensor';
import { inferenceReady, packedOwnLinearWeight } from './inference_weights';
import { resetConvLinear } from './init';
import { Module } from './module';
import { Parameter } from './parameter';

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Parameter;
  bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, options: { bias?: boolean } = {}) {
    super();
    this.inFeatures = checkInt('Linear', 'inFeatures', inFeatures, 1);
    this.outFeatures = checkInt('Linear', 'outFeatures', outFeatures, 1);
    expectOptionsObject('Linear', options);
    this.weight = new Parameter(Tensor.empty([outFeatures, inFeatures]));
    this.bias = (options.bias ?? true) ? new Parameter(Tensor.empty([outFeatures])) : null;
    this.resetParameters();
  }

  resetParameters(): void {
    resetConvLinear(this.weight, this.bias);
  }

  forward(x: Tensor): Tensor {
    if (!(x instanceof Tensor))
      throw new ArgumentError(`Linear: expected input to be a Tensor but received ${describe(x)}`);
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new ShapeError(
        `Linear: expected input of shape [..., ${this.inFeatures}] (${this.inFeatures} features) but received ${shapeString(x.shape)}`,
      );
    }
    const packed = inferenceReady(this) ? packedOwnLinearWeight(this, this.weight) : null;
    return ops.linear(x, this.weight, this.bias, { packed });
  }

  protected override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

/** Returns its input. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}
