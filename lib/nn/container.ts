/**
 * Containers: ModuleList (an indexable list of children) and Sequential (a chain). Children
 * are stored as the numeric attributes '0', '1', ..., which the Module walker visits first
 * and in order, so their state-dict keys are PyTorch's ('0.weight', 'layers.1.bias').
 */
import { checkInt } from '../check';
import { ArgumentError, describe } from '../errors';
import { Tensor } from '../tensor';
import type { Conv2d } from './conv';
import { convBnAct, fusedRun } from './fold';
import { Module } from './module';

abstract class IndexedModules<T extends Module> extends Module implements Iterable<T> {
  private count = 0;

  constructor(modules: Iterable<T>) {
    super();
    if (modules === null || typeof (modules as Partial<Iterable<T>>)[Symbol.iterator] !== 'function') {
      throw new ArgumentError(
        `${this.constructor.name}: expected modules to be an iterable of Modules but received ${describe(modules)}`,
      );
    }
    for (const m of modules) this.push(m);
  }

  get length(): number {
    return this.count;
  }

  /** Appends a module; returns this. */
  push(module: T): this {
    if (!(module instanceof Module)) {
      throw new ArgumentError(`${this.constructor.name}.push: expected a Module but received ${describe(module)}`);
    }
    (this as unknown as Record<number, T>)[this.count++] = module;
    return this;
  }

  /** The module at `index` (negative counts from the end). */
  get(index: number): T {
    checkInt(`${this.constructor.name}.get`, 'index', index);
    const i = index < 0 ? index + this.count : index;
    if (i < 0 || i >= this.count) {
      throw new ArgumentError(
        `${this.constructor.name}.get: expected index to be in [${-this.count}, ${this.count - 1}] but received ${index}`,
      );
    }
    return (this as unknown as Record<number, T>)[i];
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.count; i++) yield (this as unknown as Record<number, T>)[i];
  }
}

/** Holds submodules so they are registered (PyTorch's nn.ModuleList); has no forward. */
export class ModuleList<T extends Module = Module> extends IndexedModules<T> {
  constructor(modules: Iterable<T> = []) {
    super(modules);
  }

  forward(): never {
    throw new ArgumentError('ModuleList.forward: a ModuleList has no forward; iterate over it and call its modules');
  }
}

/**
 * Applies its modules in order: forward(x) = m[n-1](...m[1](m[0](x))). At inference (eval mode,
 * nothing recording gradients or a trace) a Conv2d -> BatchNorm2d (-> ReLU) run is one conv with
 * the batch norm folded into its weights and the ReLU in its output pass, as ResNet's blocks run
 * (lib/nn/fold.ts), and a Conv2d -> ReLU run one conv with the ReLU in its output pass: one pass
 * over the activations instead of two or three.
 */
export class Sequential<T extends Module = Module> extends IndexedModules<T> {
  constructor(...modules: T[]) {
    super(modules);
  }

  forward(input: Tensor): Tensor {
    const modules: Module[] = [...this];
    let x = input;
    for (let i = 0; i < modules.length;) {
      const run = fusedRun(modules[i], modules[i + 1] ?? null, modules[i + 2] ?? null);
      if (run === null) {
        x = modules[i].forward(x);
        i += 1;
        continue;
      }
      const conv = modules[i] as Conv2d;
      const into = x;
      // (Through conv's own error location: a bad input names the conv's path, as its forward would.)
      x = conv.located(() =>
        run.bn ? convBnAct(conv, run.bn, into, { relu: run.relu }) : conv.forwardWithRelu(into, true),
      );
      i += run.length;
    }
    return x;
  }
}
