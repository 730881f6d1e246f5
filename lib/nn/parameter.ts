/**
 * Parameter: a leaf tensor that a Module owns and an optimizer updates. Modules find their
 * parameters by walking their attributes for Parameter instances (micrograd-style), so a
 * layer only has to assign `this.weight = new Parameter(...)`.
 */
import { keep } from '../scope';
import { Tensor } from '../tensor';

export class Parameter extends Tensor {
  /**
   * Shares `data`'s storage (no copy) and requires gradients. Parameters outlive tidy()
   * scopes: a model built inside one keeps its weights.
   */
  constructor(data: Tensor, requiresGrad = true) {
    super(data, data.shape);
    this.requiresGrad = requiresGrad;
    keep(this);
  }
}
