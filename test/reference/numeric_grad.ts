/**
 * Central finite differences of a float64 function, for gradient tests: the gradient of
 * sum(f(inputs) * seed) with respect to inputs[which]. Differentiating the float64 reference
 * (rather than the float32 op) keeps the numeric gradient accurate to ~1e-8, so the op's
 * analytic gradient can be checked tightly.
 */
export type RefFn = (inputs: Float64Array[]) => Float64Array;

export function numericGrad(
  f: RefFn,
  inputs: ArrayLike<number>[],
  seed: ArrayLike<number>,
  which: number,
  h = 1e-6,
): Float64Array {
  const xs = inputs.map((a) => Float64Array.from(a));
  const target = xs[which];
  const grad = new Float64Array(target.length);
  const dot = (y: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * seed[i];
    return s;
  };
  for (let i = 0; i < target.length; i++) {
    const v = target[i];
    target[i] = v + h;
    const plus = dot(f(xs));
    target[i] = v - h;
    const minus = dot(f(xs));
    target[i] = v;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}
