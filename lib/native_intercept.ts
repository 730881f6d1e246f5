/**
 * Every export of the native addon replaced by a wrapper for a while: profile() times the
 * calls, an inference plan records them (lib/nn/inference_plan.ts). Wrappers nest (each
 * interception wraps whatever is installed when it starts) and `restore` puts back exactly
 * what it replaced.
 */
import { native } from './native';

/** An addon export seen as a plain function (every export is wrapped alike, whatever its signature). */
export type NativeFunction = (...args: unknown[]) => unknown;

/** The addon as a table of functions by name. */
export function nativeTable(): Record<string, NativeFunction> {
  return native() as unknown as Record<string, NativeFunction>;
}

/** Installs wrap(name, current) for every function export; returns the function that restores them. */
export function interceptNative(wrap: (name: string, current: NativeFunction) => NativeFunction): () => void {
  const addon = nativeTable();
  const replaced = new Map<string, NativeFunction>();
  for (const [name, current] of Object.entries(addon)) {
    if (typeof current !== 'function') continue;
    replaced.set(name, current);
    addon[name] = wrap(name, current);
  }
  return () => {
    for (const [name, current] of replaced) addon[name] = current;
  };
}
