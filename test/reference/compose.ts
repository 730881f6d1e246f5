/**
 * A tiny float64 tensor toolkit over the per-op references, for checking layers that are
 * compositions of ops (octave convolution, feature pyramids) against an independent
 * composition computed in float64.
 */
import type { Tensor } from '../../lib';
import { convGeom, refConv2d } from './conv';
import { referenceInterpolate } from './interpolate';
import { referenceAvgPool, referenceMaxPool } from './pooling';

export interface R {
  data: Float64Array;
  shape: number[];
}

export function fromTensor(t: Tensor): R {
  return { data: Float64Array.from(t.data), shape: [...t.shape] };
}

export function conv(x: R, weight: Tensor, bias: Tensor | null, stride = 1, padding = 0, groups = 1): R {
  const g = convGeom(x.shape, weight.shape, [stride, stride], [padding, padding], [1, 1], groups);
  return { data: refConv2d(g, x.data, weight.data, bias ? bias.data : null), shape: [g.N, g.O, g.OH, g.OW] };
}

/** A Conv2d layer's weight and bias applied with its own stride/padding/groups. */
export function convLayer(
  x: R,
  layer: { weight: Tensor; bias: Tensor | null; stride: [number, number]; padding: unknown; groups: number },
): R {
  const padding = Array.isArray(layer.padding) ? (layer.padding[0] as number) : 0;
  return conv(x, layer.weight, layer.bias, layer.stride[0], padding, layer.groups);
}

export function avgPool(x: R, k: number, s: number): R {
  const { y, shape } = referenceAvgPool(
    x.data,
    x.shape,
    { kernel: [k, k], stride: [s, s], padding: [0, 0], ceilMode: false },
    true,
  );
  return { data: y, shape };
}

export function maxPool(x: R, k: number, s: number, p: number): R {
  const { y, shape } = referenceMaxPool(x.data, x.shape, {
    kernel: [k, k],
    stride: [s, s],
    padding: [p, p],
    ceilMode: false,
  });
  return { data: y, shape };
}

export function resize(x: R, h: number, w: number, mode: 'nearest' | 'bilinear'): R {
  if (x.shape[2] === h && x.shape[3] === w) return x;
  return { data: referenceInterpolate(x.data, x.shape, h, w, mode, false), shape: [x.shape[0], x.shape[1], h, w] };
}

function map(x: R, f: (v: number) => number): R {
  return { data: x.data.map(f), shape: x.shape };
}

export const relu = (x: R): R => map(x, (v) => Math.max(v, 0));
export const sigmoid = (x: R): R => map(x, (v) => 1 / (1 + Math.exp(-v)));
export const silu = (x: R): R => map(x, (v) => v / (1 + Math.exp(-v)));
export const scale = (x: R, s: number): R => map(x, (v) => v * s);

export function add(a: R, b: R): R {
  if (a.data.length !== b.data.length) throw new Error(`add: [${a.shape}] vs [${b.shape}]`);
  return { data: a.data.map((v, i) => v + b.data[i]), shape: a.shape };
}

/** x [N, C, H, W] times a per-(n, c) gate [N, C, 1, 1]. */
export function mulChannels(x: R, gate: R): R {
  const hw = x.shape[2] * x.shape[3];
  return { data: x.data.map((v, i) => v * gate.data[Math.floor(i / hw)]), shape: x.shape };
}

export function concatChannels(a: R, b: R): R {
  const [n, ca, h, w] = a.shape;
  const cb = b.shape[1];
  const out = new Float64Array(n * (ca + cb) * h * w);
  const hw = h * w;
  for (let i = 0; i < n; i++) {
    out.set(a.data.subarray(i * ca * hw, (i + 1) * ca * hw), i * (ca + cb) * hw);
    out.set(b.data.subarray(i * cb * hw, (i + 1) * cb * hw), (i * (ca + cb) + ca) * hw);
  }
  return { data: out, shape: [n, ca + cb, h, w] };
}

/** Eval-mode BatchNorm2d layer in float64. */
export function batchNormEval(
  x: R,
  bn: { weight: Tensor | null; bias: Tensor | null; eps: number; buffer(name: string): Tensor | null },
): R {
  const mean = bn.buffer('running_mean')!.data,
    variance = bn.buffer('running_var')!.data;
  const hw = x.shape[2] * x.shape[3],
    c = x.shape[1];
  return map(
    x,
    (() => {
      let i = -1;
      return (v: number) => {
        i++;
        const ch = Math.floor(i / hw) % c;
        const w = bn.weight ? bn.weight.data[ch] : 1,
          b = bn.bias ? bn.bias.data[ch] : 0;
        return ((v - mean[ch]) / Math.sqrt(variance[ch] + bn.eps)) * w + b;
      };
    })(),
  );
}

export function expectCloseR(actual: Tensor, expected: R, tol = 1e-4): void {
  expect([...actual.shape]).toEqual(expected.shape);
  const a = actual.data;
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs(a[i] - expected.data[i]) / (1 + Math.abs(expected.data[i])));
  expect(worst).toBeLessThan(tol);
}
