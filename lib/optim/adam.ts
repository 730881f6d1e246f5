/**
 * Adam and AdamW with PyTorch's exact formulas (torch.optim.Adam / AdamW), bias correction
 * and optional AMSGrad. At step t, with g the gradient:
 *   Adam:  g += weightDecay * p                 (L2 penalty in the gradient)
 *   AdamW: p *= 1 - lr * weightDecay             (decoupled weight decay)
 *   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
 *   vMax = max(vMax, v)                          (amsgrad only; used instead of v below)
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * State keys are PyTorch's: exp_avg, exp_avg_sq, max_exp_avg_sq.
 */
import { ArgumentError, describe } from '../errors';
import { Tensor } from '../tensor';
import { checkBeta, checkNonNegative, GroupOptions, Optimizer, ParamGroup, ParamState, ParamsInput } from './optimizer';
import { native } from '../native';

export interface AdamOptions extends GroupOptions {
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
  maximize: boolean;
}

export class Adam extends Optimizer<AdamOptions> {
  /** True for AdamW: weight decay shrinks the weights instead of adding to the gradient. */
  protected readonly decoupled: boolean = false;

  constructor(
    params: ParamsInput<AdamOptions>,
    options: Partial<AdamOptions> = {},
    name = 'Adam',
    defaultWeightDecay = 0,
  ) {
    super(name, params, {
      lr: 1e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: defaultWeightDecay,
      amsgrad: false,
      maximize: false,
      ...options,
    });
  }

  protected checkOptions(o: Partial<AdamOptions>): void {
    for (const key of ['lr', 'eps', 'weightDecay'] as const)
      if (o[key] !== undefined) checkNonNegative(this.constructor.name, key, o[key]);
    if (o.betas !== undefined) {
      if (!Array.isArray(o.betas) || o.betas.length !== 2) {
        throw new ArgumentError(
          `${this.constructor.name}: expected betas to be a pair of numbers in [0, 1) but received ${describe(o.betas)}`,
        );
      }
      checkBeta(this.constructor.name, 'betas[0]', o.betas[0]);
      checkBeta(this.constructor.name, 'betas[1]', o.betas[1]);
    }
    for (const key of ['amsgrad', 'maximize'] as const) {
      if (o[key] !== undefined && typeof o[key] !== 'boolean') {
        throw new ArgumentError(
          `${this.constructor.name}: expected ${key} to be a boolean but received ${describe(o[key])}`,
        );
      }
    }
  }

  protected update(param: Tensor, grad: Tensor, group: ParamGroup<AdamOptions>, state: ParamState): void {
    const { lr, eps, weightDecay, amsgrad, maximize, betas } = group;
    const m = this.stateTensor(param, state, 'exp_avg');
    const v = this.stateTensor(param, state, 'exp_avg_sq');
    const vMax = amsgrad ? this.stateTensor(param, state, 'max_exp_avg_sq') : null;
    native().adamUpdate(
      param,
      grad,
      m,
      v,
      vMax,
      lr,
      betas[0],
      betas[1],
      eps,
      weightDecay,
      this.decoupled,
      maximize,
      state.step,
    );
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter); weightDecay defaults to 0.01 as in PyTorch. */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super(params, options, 'AdamW', 0.01);
  }
}
