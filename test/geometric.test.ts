/**
 * Geometric transforms of datasets against closed forms: bilinear resampling reproduces a
 * linear ramp exactly under any affine map (where the source stays inside the image), a
 * rotation by 90 degrees about the centre permutes pixels, a constant elastic field is a
 * translation, and masks move with their images.
 */
import { syntheticShapes, warpDataset, warpImage, warpMask, type ImageDataset } from '../lib/data';
import { ArgumentError } from '../lib/errors';

const H = 9;
const W = 11;

function ramp(a: number, b: number, c: number): Float32Array {
  const img = new Float32Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) img[y * W + x] = a * x + b * y + c;
  return img;
}

function dataset(images: Float32Array, masks?: Uint8Array): ImageDataset {
  return {
    task: masks ? 'segmentation' : 'classification',
    length: 1,
    channels: 1,
    height: H,
    width: W,
    numClasses: 3,
    classNames: ['a', 'b', 'c'],
    images,
    labels: masks ? undefined : Uint8Array.of(2),
    masks,
  };
}

describe('warpImage', () => {
  test('an affine map of a linear ramp is the ramp at the mapped point, wherever the source is inside', () => {
    const src = ramp(0.3, -0.7, 2);
    const map = { m00: 0.9, m01: 0.25, m10: -0.2, m11: 1.1, field: null };
    const out = new Float32Array(H * W);
    warpImage(src, 1, H, W, map, -99, out);
    const cx = (W - 1) / 2;
    const cy = (H - 1) / 2;
    let checked = 0;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const sx = map.m00 * (x - cx) + map.m01 * (y - cy) + cx;
        const sy = map.m10 * (x - cx) + map.m11 * (y - cy) + cy;
        if (sx < 0 || sy < 0 || sx > W - 1 || sy > H - 1) continue;
        expect(out[y * W + x]).toBeCloseTo(0.3 * sx - 0.7 * sy + 2, 5);
        checked++;
      }
    expect(checked).toBeGreaterThan(40);
  });

  test('a 90 degree rotation of a square image permutes its pixels; a constant field translates', () => {
    const n = 7;
    const src = Float32Array.from({ length: n * n }, (_, i) => i);
    const out = new Float32Array(n * n);
    // source = R(-90) (p - c) + c: out(y, x) = src(x', y') with x' = y, y' = n-1-x ... in closed form below.
    warpImage(src, 1, n, n, { m00: 0, m01: 1, m10: -1, m11: 0, field: null }, -1, out);
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) expect(out[y * n + x]).toBeCloseTo(src[(n - 1 - x) * n + y], 4);
    const field = new Float32Array(2 * H * W);
    for (let p = 0; p < H * W; p++) {
      field[2 * p] = 2; // dx
      field[2 * p + 1] = -1; // dy
    }
    const img = Float32Array.from({ length: H * W }, (_, i) => i + 1);
    const moved = new Float32Array(H * W);
    warpImage(img, 1, H, W, { m00: 1, m01: 0, m10: 0, m11: 1, field }, 0, moved);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const sx = x + 2;
        const sy = y - 1;
        expect(moved[y * W + x]).toBe(sx < W && sy >= 0 ? img[sy * W + sx] : 0);
      }
  });

  test('masks follow their image by nearest neighbour; outside is background', () => {
    const mask = new Uint8Array(H * W);
    mask[4 * W + 7] = 2;
    const out = new Uint8Array(H * W);
    warpMask(
      mask,
      H,
      W,
      {
        m00: 1,
        m01: 0,
        m10: 0,
        m11: 1,
        field: Float32Array.from({ length: 2 * H * W }, (_, i) => (i % 2 === 0 ? 3 : 0)),
      },
      out,
    );
    expect(out[4 * W + 4]).toBe(2);
    expect(out.reduce((a, b) => a + b, 0)).toBe(2);
    expect(out[W - 1]).toBe(0); // sourced from x = 13, outside
  });
});

describe('warpDataset', () => {
  test('identity options copy the data; the same seed gives the same images, another seed others', () => {
    const ds = syntheticShapes({ length: 6, seed: 3 });
    const same = warpDataset(ds, {});
    expect(Array.from(same.images)).toEqual(Array.from(ds.images));
    expect(same.images).not.toBe(ds.images);
    expect(Array.from(same.labels!)).toEqual(Array.from(ds.labels!));
    const a = warpDataset(ds, { rotation: [30, 30], elastic: 1, seed: 5 });
    const b = warpDataset(ds, { rotation: [30, 30], elastic: 1, seed: 5 });
    const c = warpDataset(ds, { rotation: [30, 30], elastic: 1, seed: 6 });
    expect(Array.from(a.images)).toEqual(Array.from(b.images));
    expect(Array.from(a.images)).not.toEqual(Array.from(c.images));
  });

  test('scaling by 2 about the centre reads the ramp at half the distance from the centre', () => {
    const ds = dataset(ramp(1, 2, 0));
    const zoomed = warpDataset(ds, { scale: [2, 2], seed: 1 });
    const cx = (W - 1) / 2;
    const cy = (H - 1) / 2;
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        expect(zoomed.images[y * W + x]).toBeCloseTo(cx + (x - cx) / 2 + 2 * (cy + (y - cy) / 2), 4);
  });

  test('a rotation draws the angle with a random sign: the result is one of the two rotations', () => {
    const ds = dataset(ramp(1, 0, 0));
    const out = warpDataset(ds, { rotation: [90, 90], fill: -1, seed: 2 });
    const cx = (W - 1) / 2;
    // Inside the central square, a 90 degree turn of the x ramp is a y ramp running one way or the other.
    const v = (y: number): number => out.images[y * W + Math.round(cx)];
    const slope = v(5) - v(4);
    expect(Math.abs(Math.abs(slope) - 1)).toBeLessThan(1e-4);
  });

  test('segmentation masks are warped with their images', () => {
    const mask = new Uint8Array(H * W);
    mask.fill(1, 0, W * 4);
    const ds = dataset(ramp(0, 0, 0.5), mask);
    const out = warpDataset(ds, { rotation: [180, 180], seed: 4 });
    // Turned upside down: the top four rows of class 1 are now the bottom four.
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) expect(out.masks![y * W + x]).toBe(y >= H - 4 ? 1 : 0);
  });

  test('bad options are ArgumentErrors naming the option', () => {
    const ds = syntheticShapes({ length: 1 });
    expect(() => warpDataset(ds, { rotation: [30, 10] })).toThrow(ArgumentError);
    expect(() => warpDataset(ds, { rotation: -5 })).toThrow(/rotation/);
    expect(() => warpDataset(ds, { scale: [0, 1] })).toThrow(/scale/);
    expect(() => warpDataset(ds, { elastic: -1 })).toThrow(/elastic/);
    expect(() => warpDataset(ds, { rotate: 5 } as never)).toThrow(/rotate/);
  });
});
