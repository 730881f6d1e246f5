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

/**
 * float64 gradients of batch norm (PyTorch semantics) from the incoming gradient g, in closed
 * form: training dx = w invstd (g - mean(g) - xhat mean(g xhat)), eval dx = w invstd g;
 * dweight = sum(g xhat), dbias = sum(g). Eval takes the statistics from the running ones.
 */
export function referenceBatchNormBackward(
  x: ArrayLike<number>,
  g: ArrayLike<number>,
  shape: readonly number[],
  weight: ArrayLike<number> | null,
  training: boolean,
  runningMean: ArrayLike<number> | null,
  runningVar: ArrayLike<number> | null,
  eps: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const [N, C, H, W] = shape;
  const P = H * W,
    count = N * P;
  const dx = new Float64Array(N * C * P),
    dw = new Float64Array(C),
    db = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const at = (n: number, p: number) => (n * C + c) * P + p;
    let mean = 0,
      variance = 0;
    if (training) {
      for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) mean += x[at(n, p)];
      mean /= count;
      for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) variance += (x[at(n, p)] - mean) ** 2;
      variance /= count; // biased, as PyTorch normalises
    } else {
      mean = (runningMean as ArrayLike<number>)[c];
      variance = (runningVar as ArrayLike<number>)[c];
    }
    const invstd = 1 / Math.sqrt(variance + eps),
      wc = weight ? weight[c] : 1;
    let sumG = 0,
      sumGxhat = 0;
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < P; p++) {
        sumG += g[at(n, p)];
        sumGxhat += g[at(n, p)] * (x[at(n, p)] - mean) * invstd;
      }
    }
    dw[c] = sumGxhat;
    db[c] = sumG;
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < P; p++) {
        const i = at(n, p),
          xhat = (x[i] - mean) * invstd;
        dx[i] = training ? (wc * invstd * (count * g[i] - sumG - xhat * sumGxhat)) / count : wc * invstd * g[i];
      }
    }
  }
  return { dx, dw, db };
}
