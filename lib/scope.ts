/**
 * tidy(fn): every tensor created while fn runs is disposed when it returns, except the
 * tensors it returns (moved to the enclosing scope) and those passed to keep(). Training
 * loops wrap each step in tidy so memory stays flat without waiting for the GC.
 */
import { ArgumentError, describe } from './errors';
import type { Tensor } from './tensor';

const scopes: Set<Tensor>[] = [];

/** Called by the Tensor constructor. */
export function trackInScope(t: Tensor): void {
  if (scopes.length) scopes[scopes.length - 1].add(t);
}

/** Excludes `t` from disposal by the enclosing tidy scopes. Returns t. */
export function keep<T extends Tensor | null | undefined>(t: T): T {
  if (t) for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if (isTensor(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, out, depth + 1);
  }
}

function isTensor(value: object): value is Tensor {
  return 'shape' in value && 'buffer' in value && typeof (value as Tensor).dispose === 'function';
}

export function tidy<T>(fn: () => T): T {
  const { result, created } = withCreated(fn);
  if (result instanceof Promise) {
    throw new ArgumentError('tidy: fn must be synchronous (it returned a Promise)');
  }
  const returned = new Set<Tensor>();
  collect(result, returned);
  const parent = scopes.length ? scopes[scopes.length - 1] : null;
  for (const t of created) {
    if (returned.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/**
 * Runs fn and hands back, undisposed, the tensors created while it ran that no one kept: what
 * tidy would dispose, plus what fn returned. An inference plan (lib/nn/inference_plan.ts)
 * takes over their memory. If fn throws, they are disposed as tidy would.
 */
export function withCreated<T>(fn: () => T): { result: T; created: Set<Tensor> } {
  if (typeof fn !== 'function')
    throw new ArgumentError(`tidy: expected fn to be a function but received ${describe(fn)}`);
  const scope = new Set<Tensor>();
  scopes.push(scope);
  try {
    const result = fn();
    scopes.pop();
    return { result, created: scope };
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
}
