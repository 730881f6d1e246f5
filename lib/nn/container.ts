/**
 * Containers: ModuleList (an indexable list of children) and Sequential (a chain). Children
 * are stored as the numeric attributes '0', '1', ..., which the Module walker visits first
 * and in order, so their state-dict keys are PyTorch's ('0.weight', 'layers.1.bias').
 */
import { checkInt } from '../check';
import { ArgumentError, describe } from '../errors';
import { Tensor } from '../tensor';
import { Module } from './module';

abstract class IndexedModules<T extends Module> extends Module implements Iterable<T> {
  private count = 0;

  constructor(modules: Iterable<T>) {
    super();
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

/** Applies its modules in order: forward(x) = m[n-1](...m[1](m[0](x))). */
export class Sequential<T extends Module = Module> extends IndexedModules<T> {
  constructor(...modules: T[]) {
    super(modules);
  }

  forward(input: Tensor): Tensor {
    let x = input;
    for (const m of this) x = m.forward(x);
    return x;
  }
}
