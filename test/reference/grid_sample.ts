/** float64 reference of F.grid_sample (4-D), written from PyTorch's documented definitions. */
export type GridMode = 'bilinear' | 'nearest';
export type GridPadding = 'zeros' | 'border' | 'reflection';

function unnormalize(c: number, size: number, align: boolean): number {
  return align ? ((c + 1) / 2) * (size - 1) : ((c + 1) * size - 1) / 2;
}

function clip(v: number, size: number): number {
  return Math.min(size - 1, Math.max(v, 0));
}

// Mirror v into [lo, hi] as many times as needed.
function reflect(v: number, lo: number, hi: number): number {
  if (lo === hi) return 0;
  const span = hi - lo;
  const d = Math.abs(v - lo);
  const flips = Math.floor(d / span);
  const extra = d - flips * span;
  return flips % 2 === 0 ? lo + extra : hi - extra;
}

function source(c: number, size: number, padding: GridPadding, align: boolean): number {
  let v = unnormalize(c, size, align);
  if (padding === 'border') v = clip(v, size);
  else if (padding === 'reflection') {
    v = align ? reflect(v, 0, size - 1) : reflect(v, -0.5, size - 0.5);
    v = clip(v, size);
  }
  return v;
}

// Round half to even, as nearbyint in the default rounding mode.
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function referenceGridSample(
  input: ArrayLike<number>,
  shape: readonly number[],
  grid: ArrayLike<number>,
  outH: number,
  outW: number,
  mode: GridMode,
  padding: GridPadding,
  align: boolean,
): Float64Array {
  const [N, C, H, W] = shape;
  const out = new Float64Array(N * C * outH * outW);
  const at = (n: number, c: number, y: number, x: number): number =>
    y >= 0 && y < H && x >= 0 && x < W ? input[((n * C + c) * H + y) * W + x] : 0;
  for (let n = 0; n < N; n++)
    for (let p = 0; p < outH * outW; p++) {
      const gi = (n * outH * outW + p) * 2;
      const ix = source(grid[gi], W, padding, align);
      const iy = source(grid[gi + 1], H, padding, align);
      for (let c = 0; c < C; c++) {
        let v: number;
        if (mode === 'nearest') {
          v = at(n, c, roundHalfEven(iy), roundHalfEven(ix));
        } else {
          const x0 = Math.floor(ix),
            y0 = Math.floor(iy);
          const tx = ix - x0,
            ty = iy - y0;
          v =
            at(n, c, y0, x0) * (1 - tx) * (1 - ty) +
            at(n, c, y0, x0 + 1) * tx * (1 - ty) +
            at(n, c, y0 + 1, x0) * (1 - tx) * ty +
            at(n, c, y0 + 1, x0 + 1) * tx * ty;
        }
        out[(n * C + c) * outH * outW + p] = v;
      }
    }
  return out;
}
