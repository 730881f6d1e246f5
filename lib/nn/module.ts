/**
 * Module: the base class of every layer and model (PyTorch's nn.Module, micrograd-style).
 *
 * A layer assigns its pieces as plain attributes and the base class finds them by walking
 * the object's own attributes in definition order:
 *   - a `Parameter` is a parameter named after the attribute (`this.weight` -> 'weight');
 *   - a `Module` is a child (`this.conv` -> 'conv.weight', 'conv.bias', ...);
 *   - an array of Modules is a list of children named `<attr>.0`, `<attr>.1`, ... (the same
 *     keys a PyTorch nn.ModuleList attribute gives; null entries are skipped but keep their
 *     index), and an array of Parameters likewise (nn.ParameterList);
 *   - buffers (running statistics) are registered with `registerBuffer('running_mean', t)` so
 *     their keys keep PyTorch's snake_case names; read them back with `buffer('running_mean')`.
 * Other attributes (numbers, options, plain tensors) are ignored.
 *
 * `stateDict()` returns a plain object `Record<string, Tensor>` whose keys are ordered as
 * PyTorch orders them (each module's parameters, then its buffers, then its children), and
 * whose values are the live tensors (not copies: clone them to snapshot). `loadStateDict()`
 * copies values in place, so optimizers holding the parameters stay valid.
 */
import { expectOptionsObject, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import { native } from '../native';
import { keep } from '../scope';
import { Device, Tensor } from '../tensor';
import { weightsChanged } from '../weights_generation';
import { Parameter } from './parameter';

export interface LoadStateDictOptions {
  /** Throw when keys are missing or unexpected (default true). */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** Where an error thrown inside some module's forward came from (set by the innermost module). */
const ERROR_ORIGIN = Symbol('flexconv.errorOrigin');
interface ErrorOrigin {
  module: Module;
  message: string;
}

/**
 * Names the layer an error came from by its path inside `outer` ('layer2.0.bn1 (BatchNorm2d):
 * ...'): the innermost module that saw the error records itself, each enclosing module rewrites
 * the message with the path from itself, so the outermost call gives the full path.
 */
function locate(error: unknown, outer: Module): unknown {
  if (!(error instanceof Error)) return error;
  const tagged = error as Error & { [ERROR_ORIGIN]?: ErrorOrigin };
  const origin = tagged[ERROR_ORIGIN];
  if (!origin) {
    Object.defineProperty(tagged, ERROR_ORIGIN, {
      value: { module: outer, message: error.message },
      enumerable: false,
    });
    return error;
  }
  for (const [path, m] of outer.namedModules()) {
    if (m === origin.module && path !== '') {
      error.message = `${path} (${m.constructor.name}): ${origin.message}`;
      break;
    }
  }
  return error;
}

// Pre-order walk of namedModules: `seen` keeps shared modules and back-references to one visit.
function* walkModules(m: Module, prefix: string, seen: Set<Module>): Generator<[string, Module]> {
  if (seen.has(m)) return;
  seen.add(m);
  yield [prefix, m];
  for (const [name, child] of m.namedChildren()) yield* walkModules(child, prefix ? `${prefix}.${name}` : name, seen);
}

export abstract class Module {
  /** Training mode (batch statistics, dropout active); set with train() / eval(). */
  training = true;
  private readonly buffers = new Map<string, { tensor: Tensor | null; persistent: boolean }>();

  constructor() {
    // Errors thrown inside forward name the layer they came from by its path in the model,
    // however deep the call (see locate). The subclass's forward is already on the prototype
    // chain here; the wrapper is an own, non-enumerable property, invisible to the walkers.
    const forward = this.forward;
    const locatedForward = (...inputs: unknown[]): unknown => {
      try {
        return forward.apply(this, inputs);
      } catch (e) {
        throw locate(e, this);
      }
    };
    Object.defineProperty(this, 'forward', {
      value: locatedForward,
      enumerable: false,
      writable: true,
      configurable: true,
    });
  }

  /**
   * Runs fn as forward runs: an error thrown inside names this layer by its path in the model.
   * For a layer's other entry points (BatchNorm2d.forwardWithEpilogue, nn.Sequential's fused runs).
   * @internal
   */
  located<T>(fn: () => T): T {
    if (typeof fn !== 'function') {
      throw new ArgumentError(`Module.located: expected fn to be a function but received ${describe(fn)}`);
    }
    try {
      return fn();
    } catch (e) {
      throw locate(e, this);
    }
  }

  // Inputs and outputs vary by layer (a tensor, several, a list of feature maps); subclasses narrow them.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  abstract forward(...inputs: any[]): any;

  // ---- registration ---------------------------------------------------------------------

  /**
   * Registers a buffer: state that is saved in the state dict but not trained (running
   * statistics). `persistent: false` keeps it out of the state dict. Returns the tensor.
   */
  registerBuffer<T extends Tensor | null>(name: string, tensor: T, options: { persistent?: boolean } = {}): T {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new ArgumentError(
        `registerBuffer: expected name to be a non-empty string without '.' but received ${describe(name)}`,
      );
    }
    if (tensor !== null && !(tensor instanceof Tensor)) {
      throw new ArgumentError(
        `registerBuffer: expected tensor to be a Tensor or null but received ${describe(tensor)}`,
      );
    }
    this.buffers.set(name, { tensor: keep(tensor), persistent: options.persistent ?? true });
    return tensor;
  }

  /** The buffer registered under `name`. */
  buffer(name: string): Tensor | null {
    const entry = this.buffers.get(name);
    if (!entry) throw new ArgumentError(`buffer: ${this.constructor.name} has no buffer named ${describe(name)}`);
    return entry.tensor;
  }

  // ---- walking --------------------------------------------------------------------------

  /** Direct children with their names, in definition order. */
  *namedChildren(): Generator<[string, Module]> {
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) yield [key, value];
      else if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (value[i] instanceof Module) yield [`${key}.${i}`, value[i]];
      }
    }
  }

  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }

  /**
   * This module and every descendant, pre-order, each once, with dotted names ('' for this one,
   * or `prefix`, which every name then starts with).
   */
  namedModules(prefix = ''): Generator<[string, Module]> {
    if (typeof prefix !== 'string') {
      throw new ArgumentError(`namedModules: expected prefix to be a string but received ${describe(prefix)}`);
    }
    return walkModules(this, prefix, new Set<Module>());
  }

  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /**
   * This module's own parameters (not its children's), in definition order. An array of
   * Parameters gives `<attr>.0`, `<attr>.1`, ... (PyTorch's nn.ParameterList keys).
   */
  *ownParameters(): Generator<[string, Parameter]> {
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Parameter) yield [key, value];
      else if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (value[i] instanceof Parameter) yield [`${key}.${i}`, value[i]];
      }
    }
  }

  /** Every parameter with its dotted name, as PyTorch's named_parameters() (shared ones once). */
  *namedParameters(): Generator<[string, Parameter]> {
    const seen = new Set<Parameter>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [key, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        yield [prefix ? `${prefix}.${key}` : key, p];
      }
    }
  }

  parameters(): Parameter[] {
    return Array.from(this.namedParameters(), ([, p]) => p);
  }

  /** Every buffer with its dotted name (null buffers skipped). */
  *namedBuffers(): Generator<[string, Tensor]> {
    for (const [prefix, m] of this.namedModules()) {
      for (const [key, { tensor }] of m.buffers) if (tensor) yield [prefix ? `${prefix}.${key}` : key, tensor];
    }
  }

  /** Number of trainable scalars (or all of them with trainableOnly = false). */
  numParameters(trainableOnly = true): number {
    let n = 0;
    for (const p of this.parameters()) if (!trainableOnly || p.requiresGrad) n += p.numel;
    return n;
  }

  // ---- modes and state ------------------------------------------------------------------

  train(mode = true): this {
    weightsChanged();
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Sets requiresGrad on every parameter (false freezes the module, e.g. a pretrained backbone). */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Calls fn on every descendant, children before parents (like PyTorch), then returns this. */
  apply(fn: (m: Module) => void): this {
    if (typeof fn !== 'function') {
      throw new ArgumentError(
        `Module.apply: expected fn to be a function (m: Module) => void but received ${describe(fn)}`,
      );
    }
    const seen = new Set<Module>();
    const visit = (m: Module): void => {
      if (seen.has(m)) return; // shared modules and back-references: once
      seen.add(m);
      for (const child of m.children()) visit(child);
      fn(m);
    };
    visit(this);
    return this;
  }

  /**
   * Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)). The gradient
   * tensors are disposed, so their memory returns at once; don't keep references to them.
   */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * Parameters and persistent buffers by PyTorch key, in PyTorch's order; live tensors. Like
   * PyTorch's state_dict(), a module or parameter reachable under two names (tied weights)
   * appears under both.
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    const visit = (m: Module, prefix: string, ancestors: Set<Module>): void => {
      if (ancestors.has(m)) return; // a reference back up the tree is not a child
      ancestors.add(m);
      for (const [key, p] of m.ownParameters()) out[prefix + key] = p;
      for (const [key, { tensor, persistent }] of m.buffers) if (tensor && persistent) out[prefix + key] = tensor;
      for (const [name, child] of m.namedChildren()) visit(child, `${prefix}${name}.`, ancestors);
      ancestors.delete(m);
    };
    visit(this, '', new Set());
    return out;
  }

  /**
   * Copies `dict`'s tensors into this module's parameters and buffers, in place. Everything is
   * checked before anything is copied: with strict (default) missing or unexpected keys throw,
   * and a shape mismatch always throws, naming the key.
   */
  loadStateDict(
    dict: Record<string, Tensor> | Map<string, Tensor>,
    options: LoadStateDictOptions = {},
  ): LoadStateDictResult {
    if (dict === null || typeof dict !== 'object') {
      throw new ArgumentError(
        `loadStateDict: expected dict to be an object or Map of Tensors but received ${describe(dict)}`,
      );
    }
    expectOptionsObject('loadStateDict', options);
    const strict = options.strict ?? true;
    weightsChanged();
    const source = new Map(dict instanceof Map ? dict : Object.entries(dict));
    const target = this.stateDict();
    const missingKeys = Object.keys(target).filter((k) => !source.has(k));
    const unexpectedKeys = [...source.keys()].filter((k) => !(k in target));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      const parts = [];
      if (missingKeys.length) parts.push(`missing keys: ${missingKeys.join(', ')}`);
      if (unexpectedKeys.length) parts.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
      throw new ArgumentError(
        `loadStateDict: the state dict does not match ${this.constructor.name}: ${parts.join('; ')}`,
      );
    }
    // Every mismatch at once (a checkpoint of another variant usually differs in many places).
    const mismatches: string[] = [];
    for (const [key, dst] of Object.entries(target)) {
      const src = source.get(key);
      if (src === undefined) continue;
      if (!(src instanceof Tensor)) {
        throw new ArgumentError(`loadStateDict: expected '${key}' to be a Tensor but received ${describe(src)}`);
      }
      // Shapes must agree element for element; a scalar and a one-element vector are
      // interchangeable (num_batches_tracked is 0-d in PyTorch).
      const sameShape = src.shape.length === dst.shape.length && src.shape.every((d, i) => d === dst.shape[i]);
      if (!sameShape && !(src.numel === 1 && dst.numel === 1)) {
        mismatches.push(`'${key}' expected ${shapeString(dst.shape)} but received ${shapeString(src.shape)}`);
      }
    }
    if (mismatches.length) {
      throw new ShapeError(
        `loadStateDict: ${mismatches.length} shape mismatch${mismatches.length > 1 ? 'es' : ''}: ${mismatches.join('; ')}`,
      );
    }
    for (const [key, dst] of Object.entries(target)) {
      const src = source.get(key);
      if (src !== undefined && src !== dst) copyInto(dst, src);
    }
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Moves parameters and buffers to `device` (new Parameter objects: create the optimizer
   * after moving the model). Gradients are dropped. Returns this.
   */
  to(device: Device): this {
    if (device !== 'cpu' && device !== 'cuda') {
      throw new ArgumentError(`Module.to: expected device to be 'cpu' or 'cuda' but received ${describe(device)}`);
    }
    weightsChanged();
    for (const m of this.modules()) {
      for (const [key, p] of m.ownParameters()) {
        if (p.device === device) continue;
        const moved = p.to(device);
        const replacement = new Parameter(moved, p.requiresGrad);
        moved.dispose();
        const [attr, index] = key.split('.');
        const holder = m as unknown as Record<string, unknown>;
        if (index === undefined) holder[attr] = replacement;
        else (holder[attr] as unknown[])[Number(index)] = replacement;
      }
      for (const [key, entry] of m.buffers) {
        if (entry.tensor && entry.tensor.device !== device) entry.tensor = keep(entry.tensor.to(device));
        m.buffers.set(key, entry);
      }
    }
    return this;
  }

  /** A one-line-per-module summary, indented like PyTorch's repr. */
  toString(): string {
    const lines: string[] = [];
    const ancestors = new Set<Module>();
    const visit = (m: Module, name: string, depth: number): void => {
      const label = `${'  '.repeat(depth)}${name ? `(${name}): ` : ''}${m.constructor.name}`;
      if (ancestors.has(m)) {
        lines.push(`${label}(<cycle>)`);
        return;
      }
      lines.push(`${label}(${m.extraRepr()})`);
      ancestors.add(m);
      for (const [childName, child] of m.namedChildren()) visit(child, childName, depth + 1);
      ancestors.delete(m);
    };
    visit(this, '', 0);
    return lines.join('\n');
  }

  /** Layer-specific description for toString() (e.g. "3, 16, kernelSize=[3, 3]"). */
  protected extraRepr(): string {
    return '';
  }
}

/** dst <- src elementwise, across devices, without changing dst's identity. */
function copyInto(dst: Tensor, src: Tensor): void {
  const host = src.device === 'cpu' ? src.data : Float32Array.from(src.toArray());
  if (dst.device === 'cpu') dst.data.set(host);
  else native().cudaUpload(dst.buffer, host);
}
