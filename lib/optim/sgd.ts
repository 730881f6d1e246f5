/**
 * SGD with momentum, dampening, Nesterov momentum and L2 weight decay, with PyTorch's exact
 * update (torch.optim.SGD):
 *   d = g + weightDecay * p
 *   b = d on the first step, else momentum * b + (1 - dampening) * d
 *   d = nesterov ? d + momentum * b : b
 *   p -= lr * d
 */
import { ArgumentError, describe } from '../errors';
import { Tensor } from '../tensor';
import { checkNonNegative, GroupOptions, Optimizer, ParamGroup, ParamState, ParamsInput } from './optimizer';
import { native } from '../native';

export interface SGDOptions extends GroupOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
  /** Ascend instead of descend. */
  maximize: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, options: Partial<SGDOptions> = {}) {
    super('SGD', params, {
      lr: 1e-3,
      momentum: 0,
      dampening: 0,
      nesterov: false,
      weightDecay: 0,
      maximize: false,
      ...options,
    });
  }

  protected checkOptions(o: Partial<SGDOptions>): void {
    for (const key of ['lr', 'momentum', 'dampening', 'weightDecay'] as const) {
      if (o[key] !== undefined) checkNonNegative('SGD', key, o[key]);
    }
    for (const key of ['nesterov', 'maximize'] as const) {
      if (o[key] !== undefined && typeof o[key] !== 'boolean') {
        throw new ArgumentError(`SGD: expected ${key} to be a boolean but received ${describe(o[key])}`);
      }
    }
    if (o.nesterov && (!o.momentum || o.dampening)) {
      throw new ArgumentError(
        `SGD: nesterov momentum requires momentum > 0 and dampening = 0 but received momentum ${o.momentum} and dampening ${o.dampening}`,
      );
    }
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<SGDOptions>, state: ParamState): void {
    const { lr, momentum, dampening, nesterov, weightDecay, maximize } = group;
    const first = state.tensors.momentum_buffer === undefined;
    const buf = momentum === 0 ? null : this.stateTensor(param, state, 'momentum_buffer');
    native().sgdUpdate(param, grad, buf, lr, momentum, dampening, weightDecay, nesterov, maximize, first);
  }
}
