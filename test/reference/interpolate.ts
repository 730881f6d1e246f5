/**
 * float64 reference of F.interpolate (nearest, bilinear) for NCHW data. Source indices are
 * chosen with float32 arithmetic (Math.fround) exactly as PyTorch's float kernels do; the
 * blending is float64.
 */
const f = Math.fround;

function nearestIndex(dst: number, inSize: number, outSize: number, scale: number): number {
  if (outSize === inSize) return dst;
  if (outSize === 2 * inSize) return dst >> 1;
  const s = scale > 0 ? f(1 / scale) : f(f(inSize) / f(outSize));
  return Math.min(Math.floor(f(dst * s)), inSize - 1);
}

function linearTaps(
  dst: number,
  inSize: number,
  outSize: number,
  align: boolean,
  scale: number,
): [number, number, number, number] {
  const s = align
    ? outSize > 1
      ? f(f(inSize - 1) / f(outSize - 1))
      : 0
    : scale > 0
      ? f(1 / scale)
      : f(f(inSize) / f(outSize));
  let src = align ? f(s * dst) : f(f(s * f(dst + 0.5)) - 0.5);
  if (src < 0) src = 0;
  const i0 = Math.min(Math.floor(src), inSize - 1);
  const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
  const l1 = Math.min(Math.max(src - i0, 0), 1);
  return [i0, i1, 1 - l1, l1];
}

export function referenceInterpolate(
  x: ArrayLike<number>,
  shape: readonly number[],
  outH: number,
  outW: number,
  mode: 'nearest' | 'bilinear',
  alignCorners: boolean,
  scaleH = 0,
  scaleW = 0,
): Float64Array {
  const [N, C, H, W] = shape;
  const y = new Float64Array(N * C * outH * outW);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < outH; oh++)
      for (let ow = 0; ow < outW; ow++) {
        let v: number;
        if (mode === 'nearest') {
          v = x[(nc * H + nearestIndex(oh, H, outH, scaleH)) * W + nearestIndex(ow, W, outW, scaleW)];
        } else {
          const [h0, h1, a0, a1] = linearTaps(oh, H, outH, alignCorners, scaleH);
          const [w0, w1, b0, b1] = linearTaps(ow, W, outW, alignCorners, scaleW);
          const at = (h: number, w: number): number => x[(nc * H + h) * W + w];
          v = a0 * (b0 * at(h0, w0) + b1 * at(h0, w1)) + a1 * (b0 * at(h1, w0) + b1 * at(h1, w1));
        }
        y[(nc * outH + oh) * outW + ow] = v;
      }
  return y;
}
