/**
 * What the Winograd tests share (test/winograd.test.ts for F(2x2, 3x3), test/winograd4.test.ts
 * for F(4x4, 3x3)): whether this CPU has the Winograd paths, the float64 reference of a 3x3 conv
 * with its epilogue, and the conv by the fused op or by the direct path.
 */
import { noGrad } from '../lib/autograd';
import * as ops from '../lib/ops';
import { isa, setIsa } from '../lib/system';
import { Tensor } from '../lib/tensor';
import { convGeom, refConv2d } from './reference/conv';

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
