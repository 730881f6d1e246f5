/**
 * Naive float64 deformable convolution (torchvision semantics), forward and every gradient,
 * written straight from the definition: loops over output elements, one bilinear sample at a
 * time, no plans, no GEMM. Independent of the native code (which works in float32 with
 * sampling plans); the boundary rules are torchvision's (see corners()), which the golden
 * fixtures of test/torch_fixtures.test.ts check against the real torchvision.
 */
export interface RefDeformArgs {
  input: ArrayLike<number>;
  inputShape: number[]; // N, C, H, W
  offset: ArrayLike<number>;
  weight: ArrayLike<number>;
  weightShape: number[]; // O, C/groups, kh, kw
  mask?: ArrayLike<number> | null;
  bias?: ArrayLike<number> | null;
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
}

interface Geometry {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  Cg: number;
  kh: number;
  kw: number;
  Ho: number;
  Wo: number;
  groups: number;
  G: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
}

function geometry(a: RefDeformArgs): Geometry {
  const [N, C, H, W] = a.inputShape;
  const [O, Cg, kh, kw] = a.weightShape;
  const [sh, sw] = a.stride ?? [1, 1];
  const [ph, pw] = a.padding ?? [0, 0];
  const [dh, dw] = a.dilation ?? [1, 1];
  const Ho = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const Wo = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const G = a.offset.length / (N * 2 * kh * kw * Ho * Wo);
  return { N, C, H, W, O, Cg, kh, kw, Ho, Wo, groups: C / Cg, G, sh, sw, ph, pw, dh, dw };
}

/**
 * Corners of a point under torchvision's rules: [index into the plane, weight, dw/dy, dw/dx].
 * The value (weights) is nonzero only inside (-1, H) x (-1, W); the coordinate derivatives
 * come from the cell [floor(p), floor(p) + 1] wherever it has a corner in the image, i.e. on
 * [-1, H) x [-1, W): on the lines y = -1 and x = -1 a point samples 0 but has a one-sided
 * derivative (torchvision's get_coordinate_weight has no early exit).
 */
function corners(y: number, x: number, H: number, W: number): [number, number, number, number][] {
  if (!(y >= -1 && y < H && x >= -1 && x < W)) return [];
  const inside = y > -1 && x > -1;
  const y0 = Math.floor(y),
    x0 = Math.floor(x);
  const ly = y - y0,
    lx = x - x0,
    hy = 1 - ly,
    hx = 1 - lx;
  const list: [number, number, number, number, number][] = [
    [y0, x0, hy * hx, -hx, -hy],
    [y0, x0 + 1, hy * lx, -lx, hy],
    [y0 + 1, x0, ly * hx, hx, -ly],
    [y0 + 1, x0 + 1, ly * lx, lx, ly],
  ];
  return list
    .filter(([cy, cx]) => cy >= 0 && cy < H && cx >= 0 && cx < W)
    .map(([cy, cx, w, dy, dx]) => [cy * W + cx, inside ? w : 0, dy, dx]);
}

/** Visits every (n, o, oy, ox, input channel, tap) term of the convolution sum. */
function forEachTerm(
  a: RefDeformArgs,
  g: Geometry,
  visit: (t: {
    n: number;
    o: number;
    outIdx: number;
    c: number;
    wIdx: number;
    offY: number;
    offX: number;
    maskIdx: number;
    y: number;
    x: number;
    m: number;
  }) => void,
): void {
  const { N, C, O, Cg, kh, kw, Ho, Wo, groups, G } = g;
  const Og = O / groups,
    cPerG = C / G,
    K = kh * kw;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const grp = Math.floor(o / Og);
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          const outIdx = ((n * O + o) * Ho + oy) * Wo + ox;
          for (let cl = 0; cl < Cg; cl++) {
            const c = grp * Cg + cl,
              og = Math.floor(c / cPerG);
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const k = i * kw + j;
                const offY = ((n * 2 * G * K + og * 2 * K + 2 * k) * Ho + oy) * Wo + ox;
                const offX = offY + Ho * Wo;
                const maskIdx = ((n * G * K + og * K + k) * Ho + oy) * Wo + ox;
                const y = oy * g.sh - g.ph + i * g.dh + a.offset[offY];
                const x = ox * g.sw - g.pw + j * g.dw + a.offset[offX];
                const m = a.mask ? a.mask[maskIdx] : 1;
                visit({ n, o, outIdx, c, wIdx: ((o * Cg + cl) * kh + i) * kw + j, offY, offX, maskIdx, y, x, m });
              }
          }
        }
    }
}

export function refDeformConv2d(a: RefDeformArgs): { out: Float64Array; shape: number[] } {
  const g = geometry(a);
  const out = new Float64Array(g.N * g.O * g.Ho * g.Wo);
  if (a.bias) for (let idx = 0; idx < out.length; idx++) out[idx] = a.bias[Math.floor(idx / (g.Ho * g.Wo)) % g.O];
  const HW = g.H * g.W;
  forEachTerm(a, g, (t) => {
    let v = 0;
    for (const [p, w] of corners(t.y, t.x, g.H, g.W)) v += w * a.input[(t.n * g.C + t.c) * HW + p];
    out[t.outIdx] += a.weight[t.wIdx] * t.m * v;
  });
  return { out, shape: [g.N, g.O, g.Ho, g.Wo] };
}

export interface RefDeformGrads {
  input: Float64Array;
  offset: Float64Array;
  mask: Float64Array | null;
  weight: Float64Array;
  bias: Float64Array;
}

export function refDeformConv2dBackward(a: RefDeformArgs, gradOut: ArrayLike<number>): RefDeformGrads {
  const g = geometry(a);
  const HW = g.H * g.W;
  const r: RefDeformGrads = {
    input: new Float64Array(a.input.length),
    offset: new Float64Array(a.offset.length),
    mask: a.mask ? new Float64Array(a.mask.length) : null,
    weight: new Float64Array(a.weight.length),
    bias: new Float64Array(g.O),
  };
  for (let idx = 0; idx < gradOut.length; idx++) r.bias[Math.floor(idx / (g.Ho * g.Wo)) % g.O] += gradOut[idx];
  forEachTerm(a, g, (t) => {
    const go = gradOut[t.outIdx];
    const w = a.weight[t.wIdx];
    let v = 0,
      dvdy = 0,
      dvdx = 0;
    for (const [p, cw, dy, dx] of corners(t.y, t.x, g.H, g.W)) {
      const xv = a.input[(t.n * g.C + t.c) * HW + p];
      v += cw * xv;
      dvdy += dy * xv;
      dvdx += dx * xv;
      r.input[(t.n * g.C + t.c) * HW + p] += go * w * t.m * cw;
    }
    r.weight[t.wIdx] += go * t.m * v;
    if (r.mask) r.mask[t.maskIdx] += go * w * v;
    r.offset[t.offY] += go * w * t.m * dvdy;
    r.offset[t.offX] += go * w * t.m * dvdx;
  });
  return r;
}
