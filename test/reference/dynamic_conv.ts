/**
 * Naive float64 dynamic convolution: the per-sample definition written out loop by loop
 * (mix the kernels, then a direct conv2d of each sample with its mixed kernel), and its
 * gradients derived by hand from the same loops. Independent of the GEMM-based kernels.
 */
export interface DynGeom {
  B: number;
  C: number;
  H: number;
  W: number;
  K: number;
  O: number;
  kh: number;
  kw: number;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export function outSize(g: DynGeom): [number, number] {
  const oh = Math.floor((g.H + 2 * g.padding[0] - g.dilation[0] * (g.kh - 1) - 1) / g.stride[0]) + 1;
  const ow = Math.floor((g.W + 2 * g.padding[1] - g.dilation[1] * (g.kw - 1) - 1) / g.stride[1]) + 1;
  return [oh, ow];
}

/** W_b = sum_k attention[b, k] * experts[k] for every b: [B, D] with D = per-expert size. */
export function mixKernels(
  experts: ArrayLike<number>,
  attention: ArrayLike<number>,
  B: number,
  K: number,
): Float64Array {
  const D = experts.length / K;
  const W = new Float64Array(B * D);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      const a = attention[b * K + k];
      for (let d = 0; d < D; d++) W[b * D + d] += a * experts[k * D + d];
    }
  }
  return W;
}

// Visits every (b, o, oy, ox, c, i, j) term of the convolution with the flat indices of the
// input pixel (or -1 in the padding), the per-sample weight and the output.
function forEachTerm(g: DynGeom, fn: (b: number, xi: number, wi: number, oi: number) => void): void {
  const [OH, OW] = outSize(g);
  const Og = g.O / g.groups,
    Cg = g.C / g.groups;
  for (let b = 0; b < g.B; b++) {
    for (let o = 0; o < g.O; o++) {
      const grp = Math.floor(o / Og);
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          const oi = ((b * g.O + o) * OH + oy) * OW + ox;
          for (let c = 0; c < Cg; c++) {
            for (let i = 0; i < g.kh; i++) {
              const iy = oy * g.stride[0] - g.padding[0] + i * g.dilation[0];
              for (let j = 0; j < g.kw; j++) {
                const ix = ox * g.stride[1] - g.padding[1] + j * g.dilation[1];
                const inside = iy >= 0 && iy < g.H && ix >= 0 && ix < g.W;
                const xi = inside ? ((b * g.C + grp * Cg + c) * g.H + iy) * g.W + ix : -1;
                const wi = ((o * Cg + c) * g.kh + i) * g.kw + j;
                fn(b, xi, wi, oi);
              }
            }
          }
        }
      }
    }
  }
}

export interface DynInputs {
  input: ArrayLike<number>;
  experts: ArrayLike<number>;
  attention: ArrayLike<number>;
  expertBias?: ArrayLike<number> | null;
}

export function dynamicConvForward(g: DynGeom, t: DynInputs): Float64Array {
  const [OH, OW] = outSize(g);
  const W = mixKernels(t.experts, t.attention, g.B, g.K);
  const D = W.length / g.B;
  const out = new Float64Array(g.B * g.O * OH * OW);
  if (t.expertBias) {
    const bias = mixKernels(t.expertBias, t.attention, g.B, g.K);
    for (let b = 0; b < g.B; b++)
      for (let o = 0; o < g.O; o++) out.fill(bias[b * g.O + o], (b * g.O + o) * OH * OW, (b * g.O + o + 1) * OH * OW);
  }
  forEachTerm(g, (b, xi, wi, oi) => {
    if (xi >= 0) out[oi] += W[b * D + wi] * t.input[xi];
  });
  return out;
}

export interface DynGrads {
  input: Float64Array;
  experts: Float64Array;
  attention: Float64Array;
  expertBias: Float64Array | null;
}

export function dynamicConvBackward(g: DynGeom, t: DynInputs, gradOut: ArrayLike<number>): DynGrads {
  const [OH, OW] = outSize(g);
  const W = mixKernels(t.experts, t.attention, g.B, g.K);
  const D = W.length / g.B;
  const gi = new Float64Array(t.input.length);
  const gW = new Float64Array(g.B * D);
  forEachTerm(g, (b, xi, wi, oi) => {
    if (xi < 0) return;
    gi[xi] += W[b * D + wi] * gradOut[oi];
    gW[b * D + wi] += gradOut[oi] * t.input[xi];
  });
  const gBias = new Float64Array(g.B * g.O);
  for (let b = 0; b < g.B; b++) {
    for (let o = 0; o < g.O; o++) {
      for (let p = 0; p < OH * OW; p++) gBias[b * g.O + o] += gradOut[(b * g.O + o) * OH * OW + p];
    }
  }
  const gE = new Float64Array(g.K * D);
  const gA = new Float64Array(g.B * g.K);
  const gEB = t.expertBias ? new Float64Array(g.K * g.O) : null;
  for (let b = 0; b < g.B; b++) {
    for (let k = 0; k < g.K; k++) {
      const a = t.attention[b * g.K + k];
      let dot = 0;
      for (let d = 0; d < D; d++) {
        gE[k * D + d] += a * gW[b * D + d];
        dot += gW[b * D + d] * t.experts[k * D + d];
      }
      if (t.expertBias && gEB) {
        for (let o = 0; o < g.O; o++) {
          gEB[k * g.O + o] += a * gBias[b * g.O + o];
          dot += gBias[b * g.O + o] * t.expertBias[k * g.O + o];
        }
      }
      gA[b * g.K + k] = dot;
    }
  }
  return { input: gi, experts: gE, attention: gA, expertBias: gEB };
}
