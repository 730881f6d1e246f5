/**
 * Naive float64 conv2d / conv_transpose2d and their gradients, straight from the
 * definitions (one loop nest each): the oracle for the native kernels.
 */
export interface ConvGeom {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  kh: number;
  kw: number;
  OH: number;
  OW: number;
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

/** Geometry of conv2d(x [N, C, H, W], w [O, C/groups, kh, kw]). */
export function convGeom(
  xShape: readonly number[],
  wShape: readonly number[],
  stride: [number, number],
  padding: [number, number],
  dilation: [number, number],
  groups: number,
): ConvGeom {
  const [N, C, H, W] = xShape;
  const [O, , kh, kw] = wShape;
  const OH = Math.floor((H + 2 * padding[0] - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * padding[1] - dilation[1] * (kw - 1) - 1) / stride[1]) + 1;
  return { N, C, H, W, O, kh, kw, OH, OW, stride, padding, dilation, groups };
}

/**
 * Visits every (output element, weight element, input element) triple of conv2d that
 * touches the real input (padding contributes zero): f(outIndex, weightIndex, inputIndex).
 */
function forEachTap(g: ConvGeom, f: (o: number, w: number, i: number) => void): void {
  const Cg = g.C / g.groups,
    Og = g.O / g.groups;
  for (let n = 0; n < g.N; n++) {
    for (let o = 0; o < g.O; o++) {
      const grp = Math.floor(o / Og);
      for (let oy = 0; oy < g.OH; oy++) {
        for (let ox = 0; ox < g.OW; ox++) {
          const oi = ((n * g.O + o) * g.OH + oy) * g.OW + ox;
          for (let c = 0; c < Cg; c++) {
            const ic = grp * Cg + c;
            for (let i = 0; i < g.kh; i++) {
              const iy = oy * g.stride[0] - g.padding[0] + i * g.dilation[0];
              if (iy < 0 || iy >= g.H) continue;
              for (let j = 0; j < g.kw; j++) {
                const ix = ox * g.stride[1] - g.padding[1] + j * g.dilation[1];
                if (ix < 0 || ix >= g.W) continue;
                f(oi, ((o * Cg + c) * g.kh + i) * g.kw + j, ((n * g.C + ic) * g.H + iy) * g.W + ix);
              }
            }
          }
        }
      }
    }
  }
}

export function refConv2d(
  g: ConvGeom,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias?: ArrayLike<number> | null,
): Float64Array {
  const out = new Float64Array(g.N * g.O * g.OH * g.OW);
  if (bias) {
    const P = g.OH * g.OW;
    for (let k = 0; k < out.length; k++) out[k] = bias[Math.floor(k / P) % g.O];
  }
  forEachTap(g, (o, wi, xi) => {
    out[o] += w[wi] * x[xi];
  });
  return out;
}

/** Gradient of sum(gy * conv2d(x, w)) with respect to x (also conv_transpose2d's forward). */
export function refConv2dGradInput(g: ConvGeom, gy: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const gx = new Float64Array(g.N * g.C * g.H * g.W);
  forEachTap(g, (o, wi, xi) => {
    gx[xi] += w[wi] * gy[o];
  });
  return gx;
}

export function refConv2dGradWeight(g: ConvGeom, gy: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  const gw = new Float64Array(g.O * (g.C / g.groups) * g.kh * g.kw);
  forEachTap(g, (o, wi, xi) => {
    gw[wi] += gy[o] * x[xi];
  });
  return gw;
}

export function refChannelSums(shape: readonly number[], gy: ArrayLike<number>): Float64Array {
  const [N, C] = shape;
  const P = shape.slice(2).reduce((a, b) => a * b, 1);
  const s = new Float64Array(C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) s[c] += gy[(n * C + c) * P + p];
  return s;
}

/**
 * conv_transpose2d(x [N, Cin, H, W], w [Cin, Cout/groups, kh, kw]) written directly as a
 * scatter (each input pixel spreads its value over the kernel window), independent of the
 * conv2d adjoint relation the library uses.
 */
export function refConvTranspose2d(
  xShape: readonly number[],
  x: ArrayLike<number>,
  wShape: readonly number[],
  w: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  stride: [number, number],
  padding: [number, number],
  outputPadding: [number, number],
  dilation: [number, number],
  groups: number,
): { out: Float64Array; shape: number[] } {
  const [N, Cin, H, W] = xShape;
  const [, Og, kh, kw] = wShape;
  const Cout = Og * groups,
    Cg = Cin / groups;
  const OH = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + outputPadding[0] + 1;
  const OW = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + outputPadding[1] + 1;
  const out = new Float64Array(N * Cout * OH * OW);
  for (let n = 0; n < N; n++) {
    for (let ci = 0; ci < Cin; ci++) {
      const grp = Math.floor(ci / Cg);
      for (let y = 0; y < H; y++) {
        for (let xx = 0; xx < W; xx++) {
          const v = x[((n * Cin + ci) * H + y) * W + xx];
          for (let oc = 0; oc < Og; oc++) {
            const co = grp * Og + oc;
            for (let i = 0; i < kh; i++) {
              const oy = y * stride[0] - padding[0] + i * dilation[0];
              if (oy < 0 || oy >= OH) continue;
              for (let j = 0; j < kw; j++) {
                const ox = xx * stride[1] - padding[1] + j * dilation[1];
                if (ox < 0 || ox >= OW) continue;
                out[((n * Cout + co) * OH + oy) * OW + ox] += v * w[((ci * Og + oc) * kh + i) * kw + j];
              }
            }
          }
        }
      }
    }
  }
  if (bias) {
    const P = OH * OW;
    for (let k = 0; k < out.length; k++) out[k] += bias[Math.floor(k / P) % Cout];
  }
  return { out, shape: [N, Cout, OH, OW] };
}
