/**
 * What the Winograd tests share (test/winograd.test.ts for F(2x2, 3x3), test/winograd4.test.ts
 * for F(4x4, 3x3)): whether this CPU has the Winograd paths, the float64 reference of a 3x3 conv
 * with its epilogue, and the conv by the fused op or by the direct path.
 */
import { noGrad } from '../lib/autograd';
import * as ops from '../lib/ops';
import { isa, setIsa, setNumThreads } from '../lib/system';
import { Tensor } from '../lib/tensor';
import { maxRelDiff } from './helpers';
import { convGeom, refConv2d, refConv2dGradInput } from './reference/conv';
import { DynGeom, dynamicConvBackward, dynamicConvForward } from './reference/dynamic_conv';

// The Winograd copies are made on AVX-512 CPUs only (elsewhere the direct path is faster).
export const winogradHere = isa().detected === 'avx512';

/** describe where this CPU has the Winograd paths, describe.skip (with a warning naming the file) elsewhere. */
export function describeWinograd(file: string): jest.Describe {
  if (!winogradHere) console.warn(`${file} skipped: this CPU's instruction set is ${isa().detected}, not avx512`);
  return winogradHere ? describe : describe.skip;
}

/** A conv of the tables of cases: input shape, output channels, padding, and its epilogue. */
export interface WinogradCase {
  name: string;
  input: [number, number, number, number];
  out: number;
  padding: number;
  bias?: boolean;
  residual?: boolean;
  relu?: boolean;
}

/** float64 conv2d + bias, + residual, then ReLU, from the definition. */
export function reference(
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  padding: number,
  residual: Tensor | null,
  relu: boolean,
): Float64Array {
  const g = convGeom(x.shape, w.shape, [1, 1], [padding, padding], [1, 1], 1);
  const out = refConv2d(g, x.data, w.data, b ? b.data : null);
  for (let i = 0; i < out.length; i++) {
    if (residual) out[i] += residual.data[i];
    if (relu && out[i] < 0) out[i] = 0;
  }
  return out;
}

/** fn's conv by the direct path: under the AVX2 cap, where no Winograd copy exists. */
export function directConv(fn: () => Tensor): Tensor {
  const active = isa().active;
  try {
    setIsa('avx2');
    return fn();
  } finally {
    setIsa(active);
  }
}

/** conv2dFused under noGrad; `packed` null runs it as training does (weights transformed per call). */
export function run(
  x: Tensor,
  w: Tensor,
  packed: ops.PackedConv2dWeight | null,
  o: { bias?: Tensor | null; padding: number; residual?: Tensor | null; relu?: boolean },
): Tensor {
  return noGrad(() =>
    ops.conv2dFused(x, w, {
      bias: o.bias ?? null,
      padding: o.padding,
      residual: o.residual ?? null,
      relu: o.relu ?? false,
      packed,
    }),
  );
}

/**
 * The stride-1 input gradient of conv2d(x, w, { padding }) two ways: by autograd (native code
 * transforms the flipped weight reading `w` in place) and as the forward conv of the output
 * gradient with the flipped, transposed weight built here ([C, O, 3, 3], each kernel turned by
 * 180 degrees; padding 2 - padding), which transforms that copy. Both run the same Winograd
 * tiling, so they must agree bit for bit; `reference` is the float64 gradient.
 */
export function inputGradientTwoWays(
  xShape: [number, number, number, number],
  out: number,
  padding: number,
): { byAutograd: number[]; byForward: number[]; reference: Float64Array } {
  const x = Tensor.randn(xShape).requireGrad();
  const w = Tensor.randn([out, xShape[1], 3, 3], { std: 0.2 });
  const y = ops.conv2d(x, w, { padding });
  const gy = Tensor.randn(y.shape);
  y.backward(gy);
  const [O, C] = [out, xShape[1]];
  const flipped = new Float32Array(w.numel);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let r = 0; r < 9; r++) flipped[(c * O + o) * 9 + r] = w.data[(o * C + c) * 9 + 8 - r];
  const forward = run(gy, Tensor.from(flipped, [C, O, 3, 3]), null, { padding: 2 - padding });
  const g = convGeom(x.shape, w.shape, [1, 1], [padding, padding], [1, 1], 1);
  return {
    byAutograd: Array.from(x.grad!.data),
    byForward: Array.from(forward.data),
    reference: refConv2dGradInput(g, gy.data, w.data),
  };
}

/** The inputs of a dynamic conv of g's shape (3x3 experts, with expert biases), drawn from the current seed. */
export function dynamicInputs(g: DynGeom) {
  return {
    input: Tensor.randn([g.B, g.C, g.H, g.W]).requireGrad(),
    experts: Tensor.randn([g.K, g.O, g.C, 3, 3], { std: 0.2 }).requireGrad(),
    attention: Tensor.rand([g.B, g.K]).requireGrad(),
    expertBias: Tensor.randn([g.K, g.O]).requireGrad(),
  };
}

/** One run of dynamicRunsAgainstReference: the output and every gradient, and each one's error. */
export interface DynamicRun {
  values: Float32Array[];
  errors: { out: number; input: number; experts: number; attention: number; expertBias: number };
}

/**
 * dynamicConv2d (padding 1) forward and backward at each thread count, the output and every
 * gradient checked against the float64 per-sample definition to `tolerance` (relative to each
 * tensor's scale); returns each run's output and gradients (input, experts, attention, expert
 * bias) with their errors.
 */
export function dynamicRunsAgainstReference(
  g: DynGeom,
  t: ReturnType<typeof dynamicInputs>,
  gradOut: Tensor,
  tolerance: number,
  threadCounts: number[],
): DynamicRun[] {
  const data = {
    input: t.input.data,
    experts: t.experts.data,
    attention: t.attention.data,
    expertBias: t.expertBias.data,
  };
  const want = dynamicConvBackward(g, data, gradOut.data);
  const forward = dynamicConvForward(g, data);
  return threadCounts.map((n) => {
    setNumThreads(n);
    for (const p of Object.values(t)) p.grad = null;
    const out = ops.dynamicConv2d(t.input, t.experts, t.attention, { expertBias: t.expertBias, padding: 1 });
    out.backward(gradOut);
    const errors = {
      out: maxRelDiff(out.data, forward),
      input: maxRelDiff(t.input.grad!.data, want.input),
      experts: maxRelDiff(t.experts.grad!.data, want.experts),
      attention: maxRelDiff(t.attention.grad!.data, want.attention),
      expertBias: maxRelDiff(t.expertBias.grad!.data, want.expertBias!),
    };
    for (const [name, error] of Object.entries(errors)) expect([name, error < tolerance]).toEqual([name, true]);
    const values = [out, t.input.grad!, t.experts.grad!, t.attention.grad!, t.expertBias.grad!];
    return { values: values.map((v) => Float32Array.from(v.data)), errors };
  });
}
