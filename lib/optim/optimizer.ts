/**
 * Optimizer: holds parameter groups (each with its own hyper-parameters, like PyTorch's
 * param_groups) and per-parameter state tensors. Subclasses implement `update()` for one
 * parameter; `step()` calls it for every parameter that has a gradient.
 *
 * Updates run in place on the parameters' memory and allocate nothing after the first step
 * (state tensors are created lazily, once, as in PyTorch). Each optimizer's update is one fused
 * native kernel per parameter (native/cpu/optim.cc, native/cuda/optim.cu; math in
 * native/math/optim.h), threaded and in a single pass over memory.
 */
import { weightsChanged } from '../weights_generation';
import { ArgumentError, describe } from '../errors';
import { noGrad } from '../autograd';
import { keep } from '../scope';
import { Tensor } from '../tensor';

/** Hyper-parameters every group has; optimizers add their own. */
export interface GroupOptions {
  lr: number;
  weightDecay: number;
}

export type ParamGroup<O extends GroupOptions> = O & { params: Tensor[] };

/** What an optimizer accepts: parameters, or groups of parameters with per-group overrides. */
export type ParamsInput<O extends GroupOptions> = Iterable<Tensor> | (Partial<O> & { params: Iterable<Tensor> })[];

/** State of one parameter: named tensors (exp_avg, momentum_buffer, ...) and the step count. */
export interface ParamState {
  step: number;
  tensors: Record<string, Tensor>;
}

export interface OptimizerStateDict {
  /** Per parameter index (its position across all groups), PyTorch's names. */
  state: Record<number, { step: number } & Record<string, Tensor | number>>;
  /** Hyper-parameters per group, with `params` as parameter indices. */
  paramGroups: Record<string, unknown>[];
}

export abstract class Optimizer<O extends GroupOptions = GroupOptions> {
  readonly paramGroups: ParamGroup<O>[];
  protected readonly state = new Map<Tensor, ParamState>();

  protected constructor(
    readonly name: string,
    params: ParamsInput<O>,
    readonly defaults: O,
  ) {
    if (typeof this.checkOptions !== 'function') {
      throw new ArgumentError(`${describe(name)}: Optimizer is abstract; construct SGD, Adam or AdamW (or a subclass)`);
    }
    this.checkOptions(defaults);
    const groups = toGroups(name, params);
    this.paramGroups = groups.map((g) => {
      const group = { ...defaults, ...g, params: g.params } as ParamGroup<O>;
      this.checkOptions(group);
      return group;
    });
    const all = this.paramGroups.flatMap((g) => g.params);
    if (all.length === 0) {
      throw new ArgumentError(`${name}: expected at least one parameter but received an empty parameter list`);
    }
    if (new Set(all).size !== all.length) {
      throw new ArgumentError(`${name}: some parameters appear in more than one parameter group`);
    }
  }

  /**
   * Adds a parameter group (e.g. layers unfrozen during fine-tuning); options it omits come
   * from the optimizer's defaults.
   */
  addParamGroup(group: Partial<O> & { params: Iterable<Tensor> }): void {
    const [g] = toGroups(this.name, [group]);
    const full = { ...this.defaults, ...g, params: g.params } as ParamGroup<O>;
    this.checkOptions(full);
    const existing = new Set(this.paramGroups.flatMap((pg) => pg.params));
    if (full.params.length === 0)
      throw new ArgumentError(`${this.name}.addParamGroup: expected at least one parameter but received none`);
    if (full.params.some((p) => existing.has(p)) || new Set(full.params).size !== full.params.length) {
      throw new ArgumentError(`${this.name}.addParamGroup: some parameters appear in more than one parameter group`);
    }
    this.paramGroups.push(full);
  }

  /** Validates hyper-parameters (called for the defaults and every group). */
  protected abstract checkOptions(options: Partial<O>): void;

  /** Updates `param` in place from its gradient. */
  protected abstract update(param: Tensor, grad: Tensor, group: ParamGroup<O>, state: ParamState): void;

  /** One optimisation step over every parameter that has a gradient. */
  step(): void {
    weightsChanged();
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          if (!p.grad) continue;
          let s = this.state.get(p);
          if (!s) {
            s = { step: 0, tensors: {} };
            this.state.set(p, s);
          }
          s.step++;
          this.update(p, p.grad, group, s);
        }
      }
    });
  }

  /** Drops every parameter's gradient (PyTorch's set_to_none=True); their memory is freed at once. */
  zeroGrad(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** The state tensor `key` of a parameter, created zero-filled the first time. */
  protected stateTensor(param: Tensor, state: ParamState, key: string): Tensor {
    let t = state.tensors[key];
    if (!t) {
      t = keep(Tensor.zeros(param.shape, { device: param.device }));
      state.tensors[key] = t;
    }
    return t;
  }

  /** Copies of the state and the group hyper-parameters, as PyTorch's state_dict(). */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    for (const g of this.paramGroups) for (const p of g.params) index.set(p, index.size);
    const state: OptimizerStateDict['state'] = {};
    for (const [p, s] of this.state) {
      const entry: { step: number } & Record<string, Tensor | number> = { step: s.step };
      for (const [k, t] of Object.entries(s.tensors)) entry[k] = keep(t.clone());
      state[index.get(p) as number] = entry;
    }
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...hyper } = g;
      return { ...hyper, params: params.map((p) => index.get(p) as number) };
    });
    return { state, paramGroups };
  }

  /** Restores what stateDict() returned (for the same parameters in the same order). */
  loadStateDict(dict: OptimizerStateDict): void {
    if (!dict || typeof dict !== 'object' || !Array.isArray(dict.paramGroups) || typeof dict.state !== 'object') {
      throw new ArgumentError(
        `${this.name}.loadStateDict: expected { state, paramGroups } but received ${describe(dict)}`,
      );
    }
    if (dict.paramGroups.length !== this.paramGroups.length) {
      throw new ArgumentError(
        `${this.name}.loadStateDict: expected ${this.paramGroups.length} parameter groups but received ${dict.paramGroups.length}`,
      );
    }
    const params: Tensor[] = [];
    this.paramGroups.forEach((g, i) => {
      const saved = dict.paramGroups[i].params;
      if (!Array.isArray(saved) || saved.length !== g.params.length) {
        throw new ArgumentError(
          `${this.name}.loadStateDict: expected parameter group ${i} to have ${g.params.length} parameters but received ${
            Array.isArray(saved) ? saved.length : describe(saved)
          }`,
        );
      }
      params.push(...g.params);
    });
    for (const [key, entry] of Object.entries(dict.state)) {
      const p = params[Number(key)];
      if (!p) throw new ArgumentError(`${this.name}.loadStateDict: state for parameter ${key}, which does not exist`);
      for (const [k, t] of Object.entries(entry)) {
        if (k !== 'step' && (!(t instanceof Tensor) || t.numel !== p.numel)) {
          throw new ArgumentError(
            `${this.name}.loadStateDict: expected state '${k}' of parameter ${key} to be a Tensor with ${p.numel} elements but received ${describe(t)}`,
          );
        }
      }
    }
    this.paramGroups.forEach((g, i) => {
      const { params: _ignored, ...hyper } = dict.paramGroups[i];
      Object.assign(g, hyper);
    });
    this.state.clear();
    for (const [key, entry] of Object.entries(dict.state)) {
      const p = params[Number(key)];
      const tensors: Record<string, Tensor> = {};
      for (const [k, t] of Object.entries(entry)) {
        if (k === 'step') continue;
        const copy = keep((t as Tensor).to(p.device) === t ? (t as Tensor).clone() : (t as Tensor).to(p.device));
        tensors[k] = copy.shape.length === p.shape.length ? copy : copy.rawView(p.shape);
      }
      this.state.set(p, { step: Number(entry.step) || 0, tensors });
    }
  }
}

function toGroups<O extends GroupOptions>(name: string, params: ParamsInput<O>): (Partial<O> & { params: Tensor[] })[] {
  if (
    params === null ||
    typeof params !== 'object' ||
    typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function'
  ) {
    throw new ArgumentError(
      `${name}: expected params to be an iterable of Parameters or of parameter groups but received ${describe(params)}`,
    );
  }
  const items = Array.from(params as Iterable<unknown>);
  const isGroup = (x: unknown): boolean =>
    x !== null && typeof x === 'object' && !(x instanceof Tensor) && 'params' in x;
  if (items.length > 0 && items.every(isGroup)) {
    return (items as (Partial<O> & { params: Iterable<Tensor> })[]).map((g, i) => ({
      ...g,
      params: checkParams(name, `paramGroups[${i}].params`, g.params),
    }));
  }
  return [{ params: checkParams(name, 'params', items) } as Partial<O> & { params: Tensor[] }];
}

function checkParams(name: string, what: string, params: unknown): Tensor[] {
  if (
    params === null ||
    typeof params !== 'object' ||
    typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function'
  ) {
    throw new ArgumentError(
      `${name}: expected ${what} to be an iterable of Parameters but received ${describe(params)}`,
    );
  }
  const list = Array.from(params as Iterable<unknown>);
  list.forEach((p, i) => {
    if (!(p instanceof Tensor) || !p.requiresGrad) {
      throw new ArgumentError(
        `${name}: expected ${what}[${i}] to be a Parameter (a tensor with requiresGrad) but received ${describe(p)}`,
      );
    }
  });
  return list as Tensor[];
}

/** Shared option checks. */
export function checkNonNegative(where: string, name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ArgumentError(`${where}: expected ${name} to be a non-negative number but received ${describe(value)}`);
  }
}

export function checkBeta(where: string, name: string, value: unknown): void {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new ArgumentError(`${where}: expected ${name} to be a number in [0, 1) but received ${describe(value)}`);
  }
}
