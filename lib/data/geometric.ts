/**
 * Geometric transforms of whole image datasets: random rotation, scaling, shear and elastic
 * warps, each image resampled bilinearly about its centre (nearest neighbour for segmentation
 * masks), pixels that come from outside the image filled with `fill`. Used to build shifted
 * test sets ("does the model still see a rotated coat as a coat?") from any dataset:
 *
 *   // every image turned 30 degrees one way or the other:
 *   const rotated = warpDataset(test, { rotation: [30, 30], seed: 1 });
 *   const zoomed = warpDataset(test, { scale: [1.25, 1.25], seed: 1 });
 *   const warped = warpDataset(test, { elastic: 2, seed: 1 });
 *
 * Everything derives from `seed`: the same dataset, options and seed give the same images.
 */
import { checkInt, checkNumber, checkOptionKeys, expectOptionsObject } from '../check';
import { ArgumentError, describe } from '../errors';
import { Generator } from '../random';
import { checkDataset, type ImageDataset } from './dataset';
import { elasticField } from './elastic';

export interface GeometricTransformOptions {
  /** Rotation magnitude range in degrees [min, max] (a number r: [0, r]); the sign is random. Default none. */
  rotation?: number | [number, number];
  /** Scale factor range [min, max] (> 1 enlarges the content). Default [1, 1]. */
  scale?: [number, number];
  /** Horizontal shear magnitude range (a number s: [0, s]); the sign is random. Default none. */
  shear?: number | [number, number];
  /** Elastic warp amplitude in pixels (0: none). */
  elastic?: number;
  /** Value of pixels that map from outside the image (default 0, the background of MNIST-style data). */
  fill?: number;
  seed?: number;
}

/** The inverse map of one image: source = M (p - c) + c + elastic(p), M a 2x2 matrix. */
export interface InverseMap {
  m00: number;
  m01: number;
  m10: number;
  m11: number;
  /** Optional per-pixel displacement [dx, dy] (2 * H * W values) added to the source point. */
  field: Float32Array | null;
}

const { floor } = Math;

function checkWarpArgs(
  where: string,
  src: unknown,
  channels: number,
  height: number,
  width: number,
  map: unknown,
  out: unknown,
  kind: typeof Float32Array | typeof Uint8Array,
): void {
  checkInt(where, 'channels', channels, 1);
  checkInt(where, 'height', height, 1);
  checkInt(where, 'width', width, 1);
  const n = channels * height * width;
  for (const [name, a] of [
    ['src', src],
    ['out', out],
  ] as const) {
    if (!(a instanceof kind) || a.length < n) {
      throw new ArgumentError(
        `${where}: expected ${name} to be a ${kind.name} of at least ${n} values (${channels} x ${height} x ${width}) but received ${describe(a)}`,
      );
    }
  }
  const m = map as InverseMap | null;
  if (m === null || typeof m !== 'object' || typeof m.m00 !== 'number' || typeof m.m11 !== 'number') {
    throw new ArgumentError(
      `${where}: expected map to be an InverseMap { m00, m01, m10, m11, field } but received ${describe(map)}`,
    );
  }
  if (m.field && !(m.field instanceof Float32Array && m.field.length >= 2 * height * width)) {
    throw new ArgumentError(
      `${where}: expected map.field to be a Float32Array of ${2 * height * width} values (2 x ${height} x ${width}) but received ${describe(m.field)}`,
    );
  }
}

/**
 * Resamples one [C, H, W] image through `map` into `out` (bilinear; `fill` outside). The
 * centre is ((W - 1) / 2, (H - 1) / 2), so a rotation by 90 degrees permutes pixels exactly.
 */
export function warpImage(
  src: Float32Array,
  channels: number,
  height: number,
  width: number,
  map: InverseMap,
  fill: number,
  out: Float32Array,
): void {
  checkWarpArgs('warpImage', src, channels, height, width, map, out, Float32Array);
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  const hw = height * width;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const dx = x - cx;
      const dy = y - cy;
      let sx = map.m00 * dx + map.m01 * dy + cx;
      let sy = map.m10 * dx + map.m11 * dy + cy;
      if (map.field) {
        sx += map.field[2 * p];
        sy += map.field[2 * p + 1];
      }
      const x0 = floor(sx);
      const y0 = floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < channels; c++) {
        const plane = c * hw;
        const at = (yy: number, xx: number): number =>
          yy >= 0 && yy < height && xx >= 0 && xx < width ? src[plane + yy * width + xx] : fill;
        out[plane + p] =
          (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
          fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
      }
    }
  }
}

/** Resamples one [H, W] class mask through `map` (nearest neighbour; class 0 outside). */
export function warpMask(src: Uint8Array, height: number, width: number, map: InverseMap, out: Uint8Array): void {
  checkWarpArgs('warpMask', src, 1, height, width, map, out, Uint8Array);
  const cy = (height - 1) / 2;
  const cx = (width - 1) / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      let sx = map.m00 * (x - cx) + map.m01 * (y - cy) + cx;
      let sy = map.m10 * (x - cx) + map.m11 * (y - cy) + cy;
      if (map.field) {
        sx += map.field[2 * p];
        sy += map.field[2 * p + 1];
      }
      const xi = Math.round(sx);
      const yi = Math.round(sy);
      out[p] = yi >= 0 && yi < height && xi >= 0 && xi < width ? src[yi * width + xi] : 0;
    }
  }
}

function magnitudeRange(where: string, name: string, value: number | [number, number] | undefined): [number, number] {
  if (value === undefined) return [0, 0];
  const pair = typeof value === 'number' ? [0, value] : value;
  if (
    !Array.isArray(pair) ||
    pair.length !== 2 ||
    !pair.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0) ||
    pair[0] > pair[1]
  ) {
    throw new ArgumentError(
      `${where}: expected ${name} to be a number >= 0 or a range [min, max] with 0 <= min <= max but received ${describe(value)}`,
    );
  }
  return pair as [number, number];
}

function between(g: Generator, [lo, hi]: [number, number]): number {
  return lo === hi ? lo : lo + (hi - lo) * g.uniform();
}

/** A copy of `ds` with every image (and mask) transformed by its own random draw of `options`. */
export function warpDataset(ds: ImageDataset, options: GeometricTransformOptions): ImageDataset {
  const where = 'warpDataset';
  checkDataset(where, ds);
  expectOptionsObject(where, options);
  checkOptionKeys(where, options, ['rotation', 'scale', 'shear', 'elastic', 'fill', 'seed']);
  const rotation = magnitudeRange(where, 'rotation', options.rotation);
  const shear = magnitudeRange(where, 'shear', options.shear);
  const scale = options.scale ?? [1, 1];
  if (
    !Array.isArray(scale) ||
    scale.length !== 2 ||
    !(scale[0] > 0 && scale[0] <= scale[1] && Number.isFinite(scale[1]))
  ) {
    throw new ArgumentError(
      `${where}: expected scale to be a range [min, max] with 0 < min <= max but received ${describe(scale)}`,
    );
  }
  const elastic = checkNumber(where, 'elastic', options.elastic ?? 0);
  if (elastic < 0) throw new ArgumentError(`${where}: expected elastic to be >= 0 but received ${elastic}`);
  const fill = checkNumber(where, 'fill', options.fill ?? 0);
  const g = new Generator(checkInt(where, 'seed', options.seed ?? 0));

  const { channels: C, height: H, width: W } = ds;
  const plane = C * H * W;
  const images = new Float32Array(ds.images.length);
  const masks = ds.masks ? new Uint8Array(ds.masks.length) : undefined;
  const field = elastic > 0 ? new Float32Array(2 * H * W) : null;
  for (let n = 0; n < ds.length; n++) {
    const theta = ((g.uniform() < 0.5 ? -1 : 1) * between(g, rotation) * Math.PI) / 180;
    const s = between(g, scale);
    const k = (g.uniform() < 0.5 ? -1 : 1) * between(g, shear);
    if (field) elasticField(g, H, W, elastic, field);
    // Forward map A = S(s) * R(theta) * Shear(k); the inverse M = A^-1 takes output pixels to sources.
    const c = Math.cos(theta);
    const si = Math.sin(theta);
    const a00 = s * c;
    const a01 = s * (c * k - si);
    const a10 = s * si;
    const a11 = s * (si * k + c);
    const det = a00 * a11 - a01 * a10;
    const map: InverseMap = { m00: a11 / det, m01: -a01 / det, m10: -a10 / det, m11: a00 / det, field };
    warpImage(
      ds.images.subarray(n * plane, (n + 1) * plane),
      C,
      H,
      W,
      map,
      fill,
      images.subarray(n * plane, (n + 1) * plane),
    );
    if (masks && ds.masks)
      warpMask(ds.masks.subarray(n * H * W, (n + 1) * H * W), H, W, map, masks.subarray(n * H * W, (n + 1) * H * W));
  }
  return { ...ds, images, masks, labels: ds.labels ? Uint8Array.from(ds.labels) : undefined };
}
