/**
 * A counter that moves whenever the library changes tensors in place (optimizer steps, state
 * dicts loaded, in-place ops and initialisers, train/eval switches, device moves). Caches
 * derived from weights (batch norm folded into convolution weights for inference) compare the
 * generation they were built at with the current one and rebuild when it moved.
 *
 * Writes that bypass the library (into `tensor.data` directly) do not move it: call
 * `weightsChanged()` after them.
 */
let generation = 0;

/** Marks every weight-derived cache as stale. */
export function weightsChanged(): void {
  generation++;
}

export function weightsGeneration(): number {
  return generation;
}
