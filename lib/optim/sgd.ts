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
import { hostData } from './update';

export interface SGDOptions extends GroupOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
  /** Ascend instead of descend. */
  maximize: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, options: Partial<SGDOptions> = {}) {
    super('SGD', params, { lr: 1e-3, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, maximize: false, ...options });
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
    const [p, g] = hostData('SGD', param, grad);
    const sign = maximize ? -1 : 1;
    if (momentum === 0) {
      for (let i = 0; i < p.length; i++) p[i] -= lr * (sign * g[i] + weightDecay * p[i]);
      return;
    }
    const first = state.tensors.momentum_buffer === undefined;
    const [b] = hostData('SGD', this.stateTensor(param, state, 'momentum_buffer'));
    const keepD = 1 - dampening;
    for (let i = 0; i < p.length; i++) {
      const d = sign * g[i] + weightDecay * p[i];
      const m = first ? d : momentum * b[i] + keepD * d;
      b[i] = m;
      p[i] -= lr * (nesterov ? d + momentum * m : m);
    }
  }
}
