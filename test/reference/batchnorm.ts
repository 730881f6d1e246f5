/** float64 reference of batch norm (PyTorch semantics) for NCHW data. */
export interface BatchNormRefResult {
  y: Float64Array;
  runningMean: Float64Array | null;
  runningVar: Float64Array | null;
}

export function referenceBatchNorm(
  x: ArrayLike<number>,
  shape: readonly number[],
  runningMean: ArrayLike<number> | null,
  runningVar: ArrayLike<number> | null,
  weight: ArrayLike<number> | null,
  bias: ArrayLike<number> | null,
  training: boolean,
  momentum: number,
  eps: number,
): BatchNormRefResult {
  const [N, C, H, W] = shape;
  const hw = H * W,
    count = N * hw;
  const y = new Float64Array(N * C * hw);
  const rm = runningMean ? Float64Array.from(runningMean) : null;
  const rv = runningVar ? Float64Array.from(runningVar) : null;
  for (let c = 0; c < C; c++) {
    let mean: number, variance: number;
    if (training) {
      let s = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < hw; i++) s += x[(n * C + c) * hw + i];
      mean = s / count;
      let q = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < hw; i++) q += (x[(n * C + c) * hw + i] - mean) ** 2;
      variance = q / count;
      if (rm && rv) {
        rm[c] = (1 - momentum) * rm[c] + momentum * mean;
        rv[c] = (1 - momentum) * rv[c] + momentum * (q / (count - 1));
      }
    } else {
      mean = (runningMean as ArrayLike<number>)[c];
      variance = (runningVar as ArrayLike<number>)[c];
    }
    const inv = 1 / Math.sqrt(variance + eps);
    const w = weight ? weight[c] : 1,
      b = bias ? bias[c] : 0;
    for (let n = 0; n < N; n++)
      for (let i = 0; i < hw; i++) {
        const k = (n * C + c) * hw + i;
        y[k] = (x[k] - mean) * inv * w + b;
      }
  }
  return { y, runningMean: rm, runningVar: rv };
}
