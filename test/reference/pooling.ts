/** float64 references of max, average and adaptive average pooling, straight from PyTorch's definitions. */
export interface PoolParams {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation?: [number, number];
  ceilMode: boolean;
}

export function referencePoolSize(inSize: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const num = inSize + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(num / s) : Math.floor(num / s)) + 1;
  if (ceil && (out - 1) * s >= inSize + p) out--;
  return out;
}

export function referenceMaxPool(
  x: ArrayLike<number>,
  shape: readonly number[],
  p: PoolParams,
): { y: Float64Array; shape: number[] } {
  const [N, C, H, W] = shape;
  const [dh, dw] = p.dilation ?? [1, 1];
  const OH = referencePoolSize(H, p.kernel[0], p.stride[0], p.padding[0], dh, p.ceilMode);
  const OW = referencePoolSize(W, p.kernel[1], p.stride[1], p.padding[1], dw, p.ceilMode);
  const y = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let m = -Infinity;
        for (let i = 0; i < p.kernel[0]; i++)
          for (let j = 0; j < p.kernel[1]; j++) {
            const ih = oh * p.stride[0] - p.padding[0] + i * dh;
            const iw = ow * p.stride[1] - p.padding[1] + j * dw;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) m = Math.max(m, x[(nc * H + ih) * W + iw]);
          }
        y[(nc * OH + oh) * OW + ow] = m;
      }
  return { y, shape: [N, C, OH, OW] };
}

export function referenceAvgPool(
  x: ArrayLike<number>,
  shape: readonly number[],
  p: PoolParams,
  countIncludePad: boolean,
): { y: Float64Array; shape: number[] } {
  const [N, C, H, W] = shape;
  const OH = referencePoolSize(H, p.kernel[0], p.stride[0], p.padding[0], 1, p.ceilMode);
  const OW = referencePoolSize(W, p.kernel[1], p.stride[1], p.padding[1], 1, p.ceilMode);
  const y = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        // The window, clipped to the padded input (ceil mode may run past it), then to the input.
        const h0 = oh * p.stride[0] - p.padding[0],
          w0 = ow * p.stride[1] - p.padding[1];
        const h1 = Math.min(h0 + p.kernel[0], H + p.padding[0]),
          w1 = Math.min(w0 + p.kernel[1], W + p.padding[1]);
        let s = 0,
          inside = 0;
        for (let ih = h0; ih < h1; ih++)
          for (let iw = w0; iw < w1; iw++)
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
              s += x[(nc * H + ih) * W + iw];
              inside++;
            }
        y[(nc * OH + oh) * OW + ow] = s / (countIncludePad ? (h1 - h0) * (w1 - w0) : inside);
      }
  return { y, shape: [N, C, OH, OW] };
}

export function referenceAdaptiveAvgPool(
  x: ArrayLike<number>,
  shape: readonly number[],
  OH: number,
  OW: number,
): Float64Array {
  const [N, C, H, W] = shape;
  const y = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        const h0 = Math.floor((oh * H) / OH),
          h1 = Math.ceil(((oh + 1) * H) / OH);
        const w0 = Math.floor((ow * W) / OW),
          w1 = Math.ceil(((ow + 1) * W) / OW);
        let s = 0;
        for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) s += x[(nc * H + ih) * W + iw];
        y[(nc * OH + oh) * OW + ow] = s / ((h1 - h0) * (w1 - w0));
      }
  return y;
}

/** Gradient of max pooling: each output gradient goes to the first maximum of its window in (kh, kw) order. */
export function referenceMaxPoolBackward(
  x: ArrayLike<number>,
  shape: readonly number[],
  p: PoolParams,
  gy: ArrayLike<number>,
): Float64Array {
  const [N, C, H, W] = shape;
  const [dh, dw] = p.dilation ?? [1, 1];
  const OH = referencePoolSize(H, p.kernel[0], p.stride[0], p.padding[0], dh, p.ceilMode);
  const OW = referencePoolSize(W, p.kernel[1], p.stride[1], p.padding[1], dw, p.ceilMode);
  const gx = new Float64Array(N * C * H * W);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity,
          at = -1;
        for (let i = 0; i < p.kernel[0]; i++)
          for (let j = 0; j < p.kernel[1]; j++) {
            const ih = oh * p.stride[0] - p.padding[0] + i * dh,
              iw = ow * p.stride[1] - p.padding[1] + j * dw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const k = (nc * H + ih) * W + iw;
            if (at < 0 || x[k] > best) {
              best = x[k];
              at = k;
            }
          }
        gx[at] += gy[(nc * OH + oh) * OW + ow];
      }
  return gx;
}
