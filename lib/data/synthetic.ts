/**
 * The built-in dataset: glyphs (circle, square, triangle, cross, ring, star, arrow, L, T, H)
 * drawn under random rotation, anisotropic scaling, shear, translation and a smooth elastic
 * warp, on a random background with Gaussian noise. Geometry is what separates the classes,
 * which is where deformable convolutions are supposed to help. Everything is derived from
 * one seed (lib/random.ts), nothing is downloaded, and thousands of samples take well under
 * a second.
 *
 *   const train = syntheticShapes({ length: 5000, seed: 1 });
 *   const test = syntheticShapes({ length: 1000, seed: 2 });
 *   const seg = syntheticShapes({ task: 'segmentation', length: 500, seed: 3 });
 */
import { checkInt, checkNumber, checkOneOf } from '../check';
import { ArgumentError, describe } from '../errors';
import { Generator } from '../random';
import type { ImageDataset, Task } from './dataset';
import { elasticField } from './elastic';
import { checkAllocation } from '../tensor';
import { GLYPH_NAMES, GLYPHS } from './glyphs';

export interface SyntheticShapesOptions {
  /** Number of samples (default 1000). */
  length?: number;
  /** Seed of the generator: the same options and seed give the same data (default 0). */
  seed?: number;
  task?: Task;
  /** 1 (grey) or 3 (random colours), default 1. */
  channels?: 1 | 3;
  /** Image side in pixels (default 32). */
  size?: number;
  /** Maximum rotation in degrees either way (default 60; 180 = any orientation). */
  rotation?: number;
  /** Range of the glyph radius as a fraction of half the image side (default [0.5, 0.85]). */
  scale?: [number, number];
  /** Maximum shear factor either way (default 0.3). */
  shear?: number;
  /** Elastic warp amplitude in pixels (default 1.5; 0 turns it off). */
  elastic?: number;
  /** Standard deviation of the additive Gaussian noise (default 0.08). */
  noise?: number;
  /** Segmentation: most glyphs per image (default 3). */
  maxObjects?: number;
}

/** A sampled placement of one glyph: pixel -> canonical coordinates. */
interface Placement {
  cx: number;
  cy: number;
  /** Inverse of the linear part, divided by the radius in pixels. */
  i00: number;
  i01: number;
  i10: number;
  i11: number;
  /** One pixel in canonical units (for anti-aliasing). */
  pixel: number;
}

function samplePlacement(
  g: Generator,
  size: number,
  radiusRange: [number, number],
  maxRotationDeg: number,
  maxShear: number,
  centred: boolean,
): Placement {
  const half = size / 2;
  const radius = half * (radiusRange[0] + (radiusRange[1] - radiusRange[0]) * g.uniform());
  const theta = ((2 * g.uniform() - 1) * maxRotationDeg * Math.PI) / 180;
  const shear = (2 * g.uniform() - 1) * maxShear;
  const aspect = Math.exp((2 * g.uniform() - 1) * 0.2);
  const sx = radius * aspect;
  const sy = radius / aspect;
  // A = R(theta) * [[1, shear], [0, 1]] * diag(sx, sy)
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  const a00 = c * sx;
  const a01 = (c * shear - s) * sy;
  const a10 = s * sx;
  const a11 = (s * shear + c) * sy;
  const det = a00 * a11 - a01 * a10;
  // Keep the glyph inside the image: the free room for the centre shrinks with its size.
  const room = centred ? Math.max(0, half - radius) * 0.6 : Math.max(0, half - radius * 0.7);
  const cx = half - 0.5 + (2 * g.uniform() - 1) * room;
  const cy = half - 0.5 + (2 * g.uniform() - 1) * room;
  return {
    cx,
    cy,
    i00: a11 / det,
    i01: -a01 / det,
    i10: -a10 / det,
    i11: a00 / det,
    pixel: 1 / Math.sqrt(Math.abs(det)),
  };
}

/** Writes the coverage (0..1) of glyph `cls` at every pixel into `coverage`. */
function rasterise(cls: number, p: Placement, size: number, warp: Float32Array | null, coverage: Float32Array): void {
  const sdf = GLYPHS[cls];
  const inv = 1 / p.pixel;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const qx = x - p.cx + (warp ? warp[2 * i] : 0);
      const qy = y - p.cy + (warp ? warp[2 * i + 1] : 0);
      const u = p.i00 * qx + p.i01 * qy;
      const v = p.i10 * qx + p.i11 * qy;
      // Outside the unit disc (plus margin) every glyph is empty: skip the distance function.
      if (u * u + v * v > 1.3 * 1.3) {
        coverage[i] = 0;
        continue;
      }
      const a = 0.5 - sdf(u, v) * inv;
      coverage[i] = a <= 0 ? 0 : a >= 1 ? 1 : a;
    }
  }
}

/** Random foreground/background colours that differ enough to be visible (bg kept if given). */
function sampleColours(g: Generator, channels: number, given?: number[]): { fg: number[]; bg: number[] } {
  for (;;) {
    const fg: number[] = [];
    const bg: number[] = given ? given : [];
    if (channels === 1) {
      fg.push(0.55 + 0.45 * g.uniform());
      if (!given) bg.push(0.3 * g.uniform());
    } else {
      for (let c = 0; c < channels; c++) {
        fg.push(g.uniform());
        if (!given) bg.push(g.uniform());
      }
    }
    let diff = 0;
    for (let c = 0; c < channels; c++) diff += Math.abs(fg[c] - bg[c]);
    if (diff / channels >= 0.3) return { fg, bg };
  }
}

function resolveOptions(o: SyntheticShapesOptions) {
  const where = 'syntheticShapes';
  if (o === null || typeof o !== 'object') {
    throw new ArgumentError(`${where}: expected options to be an object but received ${describe(o)}`);
  }
  const scale = o.scale ?? [0.5, 0.85];
  if (!Array.isArray(scale) || scale.length !== 2 || !(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1.2)) {
    throw new ArgumentError(
      `${where}: expected scale to be a pair [min, max] with 0 < min <= max <= 1.2 but received ${describe(scale)}`,
    );
  }
  const channels = o.channels ?? 1;
  if (channels !== 1 && channels !== 3) {
    throw new ArgumentError(`${where}: expected channels to be 1 or 3 but received ${describe(channels)}`);
  }
  return {
    length: checkInt(where, 'length', o.length ?? 1000, 0),
    seed: checkInt(where, 'seed', o.seed ?? 0),
    task: checkOneOf(where, 'task', o.task ?? 'classification', ['classification', 'segmentation'] as const),
    channels,
    size: checkInt(where, 'size', o.size ?? 32, 8),
    rotation: checkNumber(where, 'rotation', o.rotation ?? 60),
    scale: scale as [number, number],
    shear: checkNumber(where, 'shear', o.shear ?? 0.3),
    elastic: checkNumber(where, 'elastic', o.elastic ?? 1.5),
    noise: checkNumber(where, 'noise', o.noise ?? 0.08),
    maxObjects: checkInt(where, 'maxObjects', o.maxObjects ?? 3, 1),
  };
}

/** Generates the dataset described by `options` (see SyntheticShapesOptions for the defaults). */
export function syntheticShapes(options: SyntheticShapesOptions = {}): ImageDataset {
  const o = resolveOptions(options);
  const { length, size, channels } = o;
  const hw = size * size;
  // Refused before anything is allocated (a size of 2^31 must not become a RangeError or a swapped machine).
  checkAllocation('syntheticShapes', [length, channels, size, size], 'cpu');
  checkAllocation('syntheticShapes', [2, size, size], 'cpu'); // the per-image scratch, even for length 0
  const g = new Generator(o.seed);
  const images = new Float32Array(length * channels * hw);
  const labels = o.task === 'classification' ? new Uint8Array(length) : undefined;
  const masks = o.task === 'segmentation' ? new Uint8Array(length * hw) : undefined;
  const coverage = new Float32Array(hw);
  const warp = o.elastic > 0 ? new Float32Array(2 * hw) : null;
  const numGlyphs = GLYPHS.length;

  for (let n = 0; n < length; n++) {
    const image = images.subarray(n * channels * hw, (n + 1) * channels * hw);
    const { bg } = sampleColours(g, channels);
    for (let c = 0; c < channels; c++) image.fill(bg[c], c * hw, (c + 1) * hw);
    if (warp) elasticField(g, size, size, o.elastic, warp);

    // Classification: one centred glyph, classes balanced (n mod 10); segmentation: 1..maxObjects
    // smaller glyphs anywhere, later ones painted over earlier ones.
    const objects = labels ? 1 : 1 + g.int(o.maxObjects);
    const mask = masks ? masks.subarray(n * hw, (n + 1) * hw) : null;
    for (let k = 0; k < objects; k++) {
      const cls = labels ? n % numGlyphs : g.int(numGlyphs);
      const radius: [number, number] = labels ? o.scale : [o.scale[0] * 0.45, o.scale[1] * 0.5];
      const placement = samplePlacement(g, size, radius, o.rotation, o.shear, labels !== undefined);
      const { fg } = sampleColours(g, channels, bg);
      rasterise(cls, placement, size, warp, coverage);
      for (let c = 0; c < channels; c++) {
        const plane = image.subarray(c * hw, (c + 1) * hw);
        for (let i = 0; i < hw; i++) {
          const a = coverage[i];
          if (a > 0) plane[i] = plane[i] * (1 - a) + fg[c] * a;
        }
      }
      if (labels) labels[n] = cls;
      if (mask) for (let i = 0; i < hw; i++) if (coverage[i] >= 0.5) mask[i] = cls + 1;
    }
    if (o.noise > 0) {
      for (let i = 0; i < image.length; i++) {
        const v = image[i] + o.noise * g.normal();
        image[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }

  return {
    task: o.task,
    length,
    channels,
    height: size,
    width: size,
    numClasses: labels ? numGlyphs : numGlyphs + 1,
    classNames: labels ? [...GLYPH_NAMES] : ['background', ...GLYPH_NAMES],
    images,
    labels,
    masks,
  };
}

/**
 * The main job's geometry split (`npm start`): training glyphs under strong but bounded
 * transforms, test glyphs under a wider range of them (rotations to 90 degrees either way,
 * smaller and larger glyphs, stronger shear and warps), so the test accuracy measures how
 * far a model's features carry beyond the geometry it was trained on — what deformable
 * sampling is meant to help with.
 */
export const GEOMETRY_SPLITS: { readonly train: SyntheticShapesOptions; readonly test: SyntheticShapesOptions } = {
  train: { rotation: 45, scale: [0.5, 0.85], shear: 0.35, elastic: 2, noise: 0.08 },
  test: { rotation: 90, scale: [0.35, 1.0], shear: 0.6, elastic: 3, noise: 0.08 },
};
