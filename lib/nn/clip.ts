/**
 * Gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_): call between
 * backward() and optimizer.step(). Deformable offsets in particular can take large steps
 * early in training; clipping the global norm keeps them in check.
 */
import { noGrad } from '../autograd';
import { checkNumber } from '../check';
import { ArgumentError, describe } from '../errors';
import * as ops from '../ops';
import { Tensor } from '../tensor';

function gradsOf(where: string, parameters: Iterable<Tensor>): Tensor[] {
  if (
    parameters === null ||
    typeof parameters !== 'object' ||
    typeof (parameters as Iterable<Tensor>)[Symbol.iterator] !== 'function'
  ) {
    throw new ArgumentError(
      `${where}: expected parameters to be an iterable of Tensors but received ${describe(parameters)}`,
    );
  }
  const grads: Tensor[] = [];
  for (const p of parameters) {
    if (!(p instanceof Tensor))
      throw new ArgumentError(`${where}: expected parameters to hold Tensors but received ${describe(p)}`);
    if (p.grad) grads.push(p.grad);
  }
  return grads;
}

/**
 * Scales all gradients together so that their global norm (the `normType`-norm of the
 * concatenated gradients; Infinity for the max) is at most maxNorm. Returns the norm before
 * clipping, as PyTorch does.
 */
export function clipGradNorm_(parameters: Iterable<Tensor>, maxNorm: number, normType = 2): number {
  const where = 'clipGradNorm_';
  checkNumber(where, 'maxNorm', maxNorm);
  if (!(normType === Infinity || (typeof normType === 'number' && normType > 0 && Number.isFinite(normType)))) {
    throw new ArgumentError(
      `${where}: expected normType to be a positive number or Infinity but received ${describe(normType)}`,
    );
  }
  const grads = gradsOf(where, parameters);
  let total = 0;
  for (const g of grads) {
    const values = g.device === 'cpu' ? g.data : Float32Array.from(g.toArray());
    if (normType === Infinity) for (let i = 0; i < values.length; i++) total = Math.max(total, Math.abs(values[i]));
    else for (let i = 0; i < values.length; i++) total += Math.abs(values[i]) ** normType;
  }
  if (normType !== Infinity) total = total ** (1 / normType);
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1) scaleAll(grads, coef);
  return total;
}

/** Clamps every gradient element to [-clipValue, clipValue]. */
export function clipGradValue_(parameters: Iterable<Tensor>, clipValue: number): void {
  const where = 'clipGradValue_';
  checkNumber(where, 'clipValue', clipValue);
  if (clipValue < 0)
    throw new ArgumentError(`${where}: expected clipValue to be non-negative but received ${describe(clipValue)}`);
  noGrad(() => {
    for (const g of gradsOf(where, parameters)) {
      if (g.device === 'cpu') {
        const d = g.data;
        for (let i = 0; i < d.length; i++) d[i] = Math.min(clipValue, Math.max(-clipValue, d[i]));
      } else {
        const clamped = ops.clamp(g, -clipValue, clipValue);
        ops.copy_(g, clamped);
        clamped.dispose();
      }
    }
  });
}

function scaleAll(grads: Tensor[], coef: number): void {
  noGrad(() => {
    for (const g of grads) {
      if (g.device === 'cpu') {
        const d = g.data;
        for (let i = 0; i < d.length; i++) d[i] *= coef;
      } else {
        const scaled = ops.scale(g, coef);
        ops.copy_(g, scaled);
        scaled.dispose();
      }
    }
  });
}
