/**
 * Define-by-run reverse-mode autograd, small enough to read in one sitting.
 *
 * Ops call `record()` after computing their output: if gradients are enabled and any input
 * requires them, the output gets a GradNode holding the op's backward closure (which
 * captures exactly the tensors the op saved). `backward()` walks the graph in reverse
 * topological order, accumulates gradients and, unless asked to retain the graph, drops
 * every closure so the saved tensors can be freed.
 */
import { shapeString } from './check';
import { ArgumentError, AutogradError, describe, ShapeError } from './errors';
import { native } from './native';
import type { OnnxForm } from './onnx/form';
import { keep } from './scope';
import type { GradNode, Tensor } from './tensor';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording anything for autograd (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function')
    throw new ArgumentError(`noGrad: expected fn to be a function but received ${describe(fn)}`);
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Attaches `backward` to `output` if any of `inputs` requires gradients. `backward` gets the
 * gradient of `output` and returns one gradient (or null) per input, in order, each of the
 * input's shape.
 *
 * `onnx` is the op's ONNX form (lib/onnx/trace.ts): while an ONNX export traces the model,
 * every call reports it, with gradients on or off.
 */
/**
 * Who sees every record() call besides autograd: the ONNX tracer while an export runs
 * (lib/onnx/trace.ts installs itself). A hook, so autograd does not load the exporter.
 */
export interface RecordObserver {
  onRecord(
    op: string,
    inputs: readonly (Tensor | null | undefined)[],
    output: Tensor,
    form: OnnxForm | undefined,
  ): void;
}

let recordObserver: RecordObserver | null = null;

/** Installs the observer of record() calls; returns the function that removes it. */
export function setRecordObserver(observer: RecordObserver): () => void {
  if (recordObserver !== null) throw new AutogradError('setRecordObserver: an observer is already installed');
  recordObserver = observer;
  return () => {
    if (recordObserver === observer) recordObserver = null;
  };
}

export function record(
  op: string,
  inputs: readonly (Tensor | null | undefined)[],
  output: Tensor,
  backward: (gradOutput: Tensor) => (Tensor | null | undefined)[],
  onnx?: OnnxForm,
): Tensor {
  if (recordObserver !== null) recordObserver.onRecord(op, inputs, output, onnx);
  if (!gradEnabled || !inputs.some((t) => t?.requiresGrad)) return output;
  output.requiresGrad = true;
  output.gradFn = { op, inputs: inputs.map((t) => (t?.requiresGrad ? t : null)), backward };
  return output;
}

function topologicalOrder(root: Tensor): Tensor[] {
  // Iterative DFS: deep networks would overflow a recursive one.
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i];
      if (child && child.gradFn && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/**
 * The gradient of a node that several consumers feed: `into` (what arrived so far, or undefined)
 * plus g. `into` is added to in place when this pass owns it (`owned`: computed by a backward
 * for this input alone); otherwise the sum goes to fresh memory, which the pass then owns.
 * Shapes may differ (a view's gradient); the element counts are equal (checked by the caller),
 * and addition is elementwise over the flat storage.
 */
function accumulate(into: Tensor | undefined, g: Tensor, gOwned: boolean, owned: Set<Tensor>): Tensor {
  if (!into) {
    if (gOwned) owned.add(g);
    return g;
  }
  if (owned.has(into)) {
    native().addInPlace(into, g);
    return into;
  }
  // A copy: `into` may be another input's gradient too (add passes its gradient to both).
  const sum = into.clone();
  native().addInPlace(sum, g);
  owned.add(sum);
  return sum;
}

/**
 * Adds g to leaf.grad. The first gradient is adopted without a copy when nothing else can
 * see its memory (`shared` is false); otherwise the leaf gets its own copy, because later
 * accumulation writes into leaf.grad in place.
 */
function accumulateLeaf(leaf: Tensor, g: Tensor, shared: boolean): void {
  if (leaf.grad === null) {
    const own = shared ? g.clone() : g;
    leaf.grad = keep(sameShape(own, leaf) ? own : own.rawView(leaf.shape));
  } else {
    native().addInPlace(leaf.grad, g); // equal element counts: a flat add
  }
}

function sameShape(a: Tensor, b: Tensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/**
 * Whether gradient `i` of a backward call may alias memory someone else still uses: the
 * incoming gradient (ops like add pass it through, reshape returns a view of it) or another
 * gradient of the same call. Everything else a backward returns is freshly computed.
 */
function aliased(grads: readonly (Tensor | null | undefined)[], i: number, incoming: Tensor): boolean {
  const gi = grads[i] as Tensor;
  if (gi.sharesStorageWith(incoming)) return true;
  return grads.some((other, j) => j !== i && other && other.sharesStorageWith(gi));
}

/**
 * Observers of backward passes (data-parallel training starts summing a bucket of gradients
 * across processes as soon as its last gradient is final, while backward goes on).
 * `onLeafReady(leaf)`: no later node of this pass adds to leaf.grad; `onBackwardEnd()`: the
 * pass is done (every leaf's gradient is final).
 */
export interface BackwardHooks {
  onLeafReady?(leaf: Tensor): void;
  onBackwardEnd?(): void;
}

const backwardHooks = new Set<BackwardHooks>();

/** Adds observers of every backward pass; returns the function that removes them. */
export function addBackwardHooks(hooks: BackwardHooks): () => void {
  backwardHooks.add(hooks);
  return () => backwardHooks.delete(hooks);
}

/** Per leaf, how many nodes of `order` still have to deliver a gradient to it. */
function leafUses(order: readonly Tensor[]): Map<Tensor, number> {
  const uses = new Map<Tensor, number>();
  for (const t of order) {
    for (const input of t.gradFn?.inputs ?? []) if (input && !input.gradFn) uses.set(input, (uses.get(input) ?? 0) + 1);
  }
  return uses;
}

function leafDone(uses: Map<Tensor, number> | null, node: GradNode): void {
  if (!uses) return;
  for (const input of node.inputs) {
    if (!input || input.gradFn) continue;
    const left = (uses.get(input) ?? 1) - 1;
    uses.set(input, left);
    if (left === 0) for (const h of backwardHooks) h.onLeafReady?.(input);
  }
}

export function backward(root: Tensor, gradOutput?: Tensor, options: { retainGraph?: boolean } = {}): void {
  try {
    backwardPass(root, gradOutput, options);
  } finally {
    for (const h of backwardHooks) h.onBackwardEnd?.();
  }
}

function backwardPass(root: Tensor, gradOutput: Tensor | undefined, options: { retainGraph?: boolean }): void {
  if (!root.requiresGrad) {
    throw new AutogradError(
      'backward: the tensor does not require gradients (no input of the ops that produced it has requiresGrad)',
    );
  }
  const seed = gradOutput;
  if (seed === undefined) {
    // Tensor.backward() supplies the ones seed of a one-element tensor.
    throw new AutogradError(
      `backward: gradOutput can be omitted only for a tensor with one element, but the tensor has shape ${shapeString(root.shape)}`,
    );
  } else if (seed.numel !== root.numel || seed.shape.some((d, i) => d !== root.shape[i])) {
    throw new ShapeError(
      `backward: expected gradOutput of shape ${shapeString(root.shape)} but received ${shapeString(seed.shape)}`,
    );
  }
  if (!root.gradFn) {
    accumulateLeaf(root, seed, true);
    return;
  }
  const order = topologicalOrder(root);
  for (const t of order) {
    if (t.gradFn && t.gradFn.backward === null) {
      throw new AutogradError(
        `backward: the graph through '${t.gradFn.op}' was already used by an earlier backward() and freed; ` +
          'pass { retainGraph: true } to the first backward() to run it again',
      );
    }
  }
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  // Gradients in `grads` that nothing but their entry can see: summed into in place. A residual
  // network's block input gets two gradients (the block and the shortcut), each a whole
  // activation: copying the first before adding cost a training step ~5% (deformable layers add
  // a third, from their offset predictor).
  const owned = new Set<Tensor>();
  const uses = backwardHooks.size ? leafUses(order) : null;
  noGradScope(() => {
    for (const t of order) {
      const node = t.gradFn as GradNode;
      const g = grads.get(t);
      grads.delete(t);
      if (g) owned.delete(g);
      if (!g) {
        leafDone(uses, node); // no gradient reached this node: its leaves get nothing from it
        continue;
      }
      const inputGrads = (node.backward as NonNullable<GradNode['backward']>)(g);
      node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!input || !gi) return;
        if (gi.numel !== input.numel) {
          throw new AutogradError(
            `backward of '${node.op}' returned a gradient of shape ${shapeString(gi.shape)} for an input of shape ${shapeString(input.shape)}`,
          );
        }
        const shared = aliased(inputGrads, i, g) || gi.sharesStorageWith(seed as Tensor);
        if (input.gradFn) grads.set(input, accumulate(grads.get(input), gi, !shared, owned));
        else accumulateLeaf(input, gi, shared);
      });
      leafDone(uses, node);
    }
  });
  if (!options.retainGraph) {
    for (const t of order) if (t.gradFn) t.gradFn.backward = null;
  }
}

function noGradScope(fn: () => void): void {
  noGrad(fn);
}
