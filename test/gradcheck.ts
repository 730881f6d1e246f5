/**
 * gradcheck(fn, inputs): compares the gradients autograd computes for fn with central finite
 * differences. The scalar checked is L = sum(fn(...inputs) * w) for fixed random weights w
 * (so every output element matters, with different weights). L is accumulated in float64
 * from the float32 outputs; each input element is moved in place and restored. The finite
 * difference is Richardson-extrapolated, (4 D(eps/2) - D(eps)) / 3 with D the central
 * difference, which cancels the eps^2 truncation term: smooth ops then agree with autograd
 * to float32 noise (~1e-5), so the default tolerances (atol 2e-4, rtol 2e-3) fail a gradient
 * that is off by a few tenths of a percent.
 *
 *   gradcheck((a, b) => ops.mul(a, b), [Tensor.randn([2, 3]), Tensor.randn([3])]);
 *
 * Inputs with requiresGrad === false are treated as constants (targets, masks); the others
 * must be leaves. Throws with the input, element index and both values on a mismatch.
 */
import { noGrad, Tensor } from '../lib';
import { Generator } from '../lib/random';

export interface GradcheckOptions {
  /** Step of the central difference (float32 ops need a large-ish step). */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Which inputs to check (default: every input that requires gradients). */
  check?: boolean[];
  seed?: number;
}

function weightedSum(out: Tensor, w: Float64Array): number {
  const d = out.data;
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i] * w[i];
  return s;
}

export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], options: GradcheckOptions = {}): void {
  const eps = options.eps ?? 1e-2;
  const atol = options.atol ?? 2e-4;
  const rtol = options.rtol ?? 2e-3;
  const checked = inputs.map((t, i) => (options.check ? options.check[i] : true) && t.requiresGrad);
  for (const t of inputs) t.grad = null;

  const out = fn(...inputs);
  const g = new Generator(options.seed ?? 1234);
  const w = new Float64Array(out.numel);
  for (let i = 0; i < w.length; i++) w[i] = g.uniform() * 2 - 1;
  out.backward(Tensor.from(Float32Array.from(w), [...out.shape]));

  inputs.forEach((x, k) => {
    if (!checked[k]) return;
    if (!x.grad) throw new Error(`gradcheck: input ${k} received no gradient`);
    const analytic = x.grad.toArray();
    const data = x.data;
    const at = (i: number, value: number): number => {
      data[i] = value;
      return noGrad(() => weightedSum(fn(...inputs), w));
    };
    for (let i = 0; i < data.length; i++) {
      const saved = data[i];
      const central = (h: number) => (at(i, saved + h) - at(i, saved - h)) / (2 * h);
      const numeric = (4 * central(eps / 2) - central(eps)) / 3;
      data[i] = saved;
      const diff = Math.abs(numeric - analytic[i]);
      if (!(diff <= atol + rtol * Math.abs(numeric))) {
        throw new Error(
          `gradcheck: input ${k} (shape [${x.shape.join(', ')}]) element ${i}: autograd ${analytic[i]} but finite differences ${numeric} (|diff| ${diff})`,
        );
      }
    }
  });
}
