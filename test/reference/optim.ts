/**
 * Float64 references of torch.optim's single-tensor updates, written op by op as PyTorch's
 * _single_tensor_sgd / _single_tensor_adam(w) do (lerp, mul_/addcmul_, addcdiv_), so the
 * tests compare the library's fused loops against the documented algorithm.
 */
export interface RefSgd {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  maximize?: boolean;
}

export function sgdReference(p0: number[], grads: number[][], o: RefSgd): number[][] {
  const p = Float64Array.from(p0);
  let buf: Float64Array | null = null;
  const out: number[][] = [];
  for (const g0 of grads) {
    let d = Float64Array.from(g0, (g) => (o.maximize ? -g : g));
    if (o.weightDecay) d = d.map((v, i) => v + o.weightDecay! * p[i]);
    const momentum = o.momentum ?? 0;
    if (momentum !== 0) {
      if (buf === null) buf = Float64Array.from(d);
      else for (let i = 0; i < buf.length; i++) buf[i] = buf[i] * momentum + (1 - (o.dampening ?? 0)) * d[i];
      if (o.nesterov) d = d.map((v, i) => v + momentum * buf![i]);
      else d = Float64Array.from(buf);
    }
    for (let i = 0; i < p.length; i++) p[i] += -o.lr * d[i];
    out.push(Array.from(p));
  }
  return out;
}

export interface RefAdam {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  decoupled?: boolean; // AdamW
  maximize?: boolean;
}

export function adamReference(p0: number[], grads: number[][], o: RefAdam): number[][] {
  const [b1, b2] = o.betas ?? [0.9, 0.999];
  const eps = o.eps ?? 1e-8;
  const wd = o.weightDecay ?? 0;
  const n = p0.length;
  const p = Float64Array.from(p0);
  const expAvg = new Float64Array(n);
  const expAvgSq = new Float64Array(n);
  const maxSq = new Float64Array(n);
  const out: number[][] = [];
  grads.forEach((g0, k) => {
    const step = k + 1;
    let g = Float64Array.from(g0, (v) => (o.maximize ? -v : v));
    if (o.decoupled) for (let i = 0; i < n; i++) p[i] *= 1 - o.lr * wd;
    else if (wd) g = g.map((v, i) => v + wd * p[i]);
    for (let i = 0; i < n; i++) expAvg[i] += (g[i] - expAvg[i]) * (1 - b1); // lerp_
    for (let i = 0; i < n; i++) expAvgSq[i] = expAvgSq[i] * b2 + (1 - b2) * g[i] * g[i];
    const bc1 = 1 - b1 ** step;
    const bc2 = 1 - b2 ** step;
    const stepSize = o.lr / bc1;
    const bc2Sqrt = Math.sqrt(bc2);
    for (let i = 0; i < n; i++) {
      let denom: number;
      if (o.amsgrad) {
        maxSq[i] = Math.max(maxSq[i], expAvgSq[i]);
        denom = Math.sqrt(maxSq[i]) / bc2Sqrt + eps;
      } else {
        denom = Math.sqrt(expAvgSq[i]) / bc2Sqrt + eps;
      }
      p[i] += -stepSize * (expAvg[i] / denom);
    }
    out.push(Array.from(p));
  });
  return out;
}
