/**
 * The ten glyphs of the built-in shapes dataset, as signed distance functions in a canonical
 * frame: the glyph fits in the disc of radius 1 around the origin, negative inside, positive
 * outside, in canonical units. Signed distances (rather than inside/outside tests) give
 * anti-aliased edges for free: coverage = clamp(0.5 - d / pixelSize).
 *
 * The classes are chosen so that telling them apart needs their geometry (corners, arms,
 * holes, orientation of parts), not their brightness or size.
 */
// Module constants: global lookups (Math) are slow inside jest's vm contexts.
const { sqrt, abs, max, min } = Math;

export type Sdf = (u: number, v: number) => number;

function box(u: number, v: number, cx: number, cy: number, hx: number, hy: number): number {
  // Exact inside, a slight underestimate outside near corners: good enough for 1-pixel anti-aliasing.
  return max(abs(u - cx) - hx, abs(v - cy) - hy);
}

/** Exact signed distance to a closed polygon (even-odd rule for the sign). */
function polygon(vertices: readonly [number, number][]): Sdf {
  const xs = Float64Array.from(vertices, (p) => p[0]);
  const ys = Float64Array.from(vertices, (p) => p[1]);
  const n = xs.length;
  return (u, v) => {
    let d = (u - xs[0]) * (u - xs[0]) + (v - ys[0]) * (v - ys[0]);
    let sign = 1;
    for (let i = 0, j = n - 1; i < n; j = i, i++) {
      const ex = xs[j] - xs[i];
      const ey = ys[j] - ys[i];
      const wx = u - xs[i];
      const wy = v - ys[i];
      const t = min(1, max(0, (wx * ex + wy * ey) / (ex * ex + ey * ey)));
      const bx = wx - ex * t;
      const by = wy - ey * t;
      d = min(d, bx * bx + by * by);
      const c1 = v >= ys[i];
      const c2 = v < ys[j];
      const c3 = ex * wy > ey * wx;
      if ((c1 && c2 && c3) || (!c1 && !c2 && !c3)) sign = -sign;
    }
    return sign * sqrt(d);
  };
}

function regularStar(points: number, outer: number, inner: number, phase: number): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 0; k < 2 * points; k++) {
    const r = k % 2 === 0 ? outer : inner;
    const a = phase + (Math.PI * k) / points;
    out.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  return out;
}

const triangle = polygon([
  [0, -0.95],
  [0.85, 0.6],
  [-0.85, 0.6],
]);
const star = polygon(regularStar(5, 0.98, 0.42, -Math.PI / 2));
const arrowHead = polygon([
  [0.95, 0],
  [0.2, -0.6],
  [0.2, 0.6],
]);

export const GLYPH_NAMES = ['circle', 'square', 'triangle', 'cross', 'ring', 'star', 'arrow', 'L', 'T', 'H'] as const;

export const GLYPHS: readonly Sdf[] = [
  // circle
  (u, v) => sqrt(u * u + v * v) - 0.8,
  // square
  (u, v) => box(u, v, 0, 0, 0.68, 0.68),
  triangle,
  // cross (a plus sign)
  (u, v) => min(box(u, v, 0, 0, 0.9, 0.24), box(u, v, 0, 0, 0.24, 0.9)),
  // ring
  (u, v) => abs(sqrt(u * u + v * v) - 0.66) - 0.2,
  star,
  // arrow pointing right: shaft plus head
  (u, v) => min(box(u, v, -0.35, 0, 0.58, 0.17), arrowHead(u, v)),
  // L
  (u, v) => min(box(u, v, -0.45, 0, 0.22, 0.9), box(u, v, 0.05, 0.68, 0.72, 0.22)),
  // T
  (u, v) => min(box(u, v, 0, -0.68, 0.9, 0.22), box(u, v, 0, 0.1, 0.22, 0.8)),
  // H
  (u, v) => min(box(u, v, -0.62, 0, 0.22, 0.9), box(u, v, 0.62, 0, 0.22, 0.9), box(u, v, 0, 0, 0.5, 0.18)),
];
