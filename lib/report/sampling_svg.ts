/**
 * The picture of where a deformable layer samples: an image with, per chosen output pixel,
 * its sampling points (lib/nn/deform.ts samplingLocations computes them) and the regular grid
 * they moved from.
 */
import { checkInt, checkOneOf, shapeString } from '../check';
import { ArgumentError, describe, ShapeError } from '../errors';
import type { SamplingLocations } from '../nn/deform';
import { Tensor } from '../tensor';
import { encodeGreyPng } from './png';

export interface SamplingSvgOptions {
  /** Output pixels [oy, ox] whose sampling points to draw (default: the centre one). */
  pixels?: [number, number][];
  batch?: number;
  offsetGroup?: number;
  /** Screen pixels per image pixel (default 16). */
  cellSize?: number;
  /** Radius of the sampling dots in screen pixels (default cellSize / 4). */
  markerSize?: number;
  /**
   * 'png' (default): the image as one embedded PNG (about a kilobyte for 32x32);
   * 'rects': one SVG rectangle per pixel (no data URL, for consumers that refuse them).
   */
  imageFormat?: 'png' | 'rects';
}

/**
 * An SVG of `image` ([H, W], [C, H, W] or [1, C, H, W]; channels averaged, min-max scaled to
 * grey) with, for each chosen output pixel, its sampling points (dots, opacity = mask) and
 * the regular-grid position of each tap (small crosses) joined to where it moved.
 */
export function samplingLocationsSvg(
  image: Tensor,
  locations: SamplingLocations,
  options: SamplingSvgOptions = {},
): string {
  if (!(image instanceof Tensor) || image.ndim < 2 || image.ndim > 4) {
    throw new ShapeError(
      `samplingLocationsSvg: expected image of shape [H, W], [C, H, W] or [1, C, H, W] but received ${image instanceof Tensor ? shapeString(image.shape) : describe(image)}`,
    );
  }
  const H = image.shape[image.ndim - 2],
    W = image.shape[image.ndim - 1];
  const C = image.ndim >= 3 ? image.shape[image.ndim - 3] : 1;
  const data = image.device === 'cpu' ? image.data : image.to('cpu').data;
  const cell = options.cellSize ?? 16;
  const [N, G, K, Ho, Wo] = locations.shape;
  const batch = checkInt('samplingLocationsSvg', 'batch', options.batch ?? 0, 0);
  const group = checkInt('samplingLocationsSvg', 'offsetGroup', options.offsetGroup ?? 0, 0);
  if (batch >= N || group >= G)
    throw new ArgumentError(
      `samplingLocationsSvg: batch ${batch} / offsetGroup ${group} out of range for locations of shape ${shapeString(locations.shape)}`,
    );
  const pixels = options.pixels ?? [[Math.floor(Ho / 2), Math.floor(Wo / 2)]];
  const grey = new Float32Array(H * W);
  for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) grey[p] += data[c * H * W + p] / C;
  let lo = Infinity,
    hi = -Infinity;
  for (const v of grey)
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  const span = hi > lo ? hi - lo : 1;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W * cell}" height="${H * cell}" viewBox="${-0.5 * cell} ${-0.5 * cell} ${W * cell} ${H * cell}">`,
  ];
  const level = (p: number): number => Math.round(255 * Math.min(1, Math.max(0, (grey[p] - lo) / span)));
  const format = checkOneOf('samplingLocationsSvg', 'imageFormat', options.imageFormat ?? 'png', [
    'png',
    'rects',
  ] as const);
  if (format === 'png') {
    const png = encodeGreyPng(
      Uint8Array.from({ length: H * W }, (_, p) => level(p)),
      W,
      H,
    ).toString('base64');
    parts.push(
      `<image x="${-0.5 * cell}" y="${-0.5 * cell}" width="${W * cell}" height="${H * cell}" preserveAspectRatio="none" style="image-rendering: pixelated" href="data:image/png;base64,${png}"/>`,
    );
  } else {
    for (let yy = 0; yy < H; yy++)
      for (let xx = 0; xx < W; xx++) {
        const v = level(yy * W + xx);
        parts.push(
          `<rect x="${(xx - 0.5) * cell}" y="${(yy - 0.5) * cell}" width="${cell}" height="${cell}" fill="rgb(${v},${v},${v})"/>`,
        );
      }
  }
  const radius = options.markerSize ?? cell / 4;
  const colours = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45'];
  const kw = locations.kernelSize[1];
  const { stride, padding, dilation } = locations;
  pixels.forEach(([oy, ox], idx) => {
    if (!(oy >= 0 && oy < Ho && ox >= 0 && ox < Wo))
      throw new ArgumentError(`samplingLocationsSvg: pixel [${oy}, ${ox}] is outside the ${Ho}x${Wo} output`);
    const colour = colours[idx % colours.length];
    for (let k = 0; k < K; k++) {
      const i = Math.floor(k / kw),
        j = k % kw;
      const at = ((batch * G + group) * K + k) * Ho * Wo + oy * Wo + ox;
      const py = locations.y[at],
        px = locations.x[at];
      if (!Number.isFinite(py) || !Number.isFinite(px)) continue;
      const ry = (oy * stride[0] - padding[0] + i * dilation[0]) * cell,
        rx = (ox * stride[1] - padding[1] + j * dilation[1]) * cell;
      const opacity = locations.mask ? Math.min(1, Math.max(0.1, locations.mask[at])) : 1;
      const d = Math.max(cell / 6, radius * 0.8);
      parts.push(
        `<path d="M${rx - d},${ry - d}L${rx + d},${ry + d}M${rx - d},${ry + d}L${rx + d},${ry - d}" stroke="${colour}" stroke-width="1"/>`,
      );
      parts.push(
        `<line x1="${rx}" y1="${ry}" x2="${(px * cell).toFixed(2)}" y2="${(py * cell).toFixed(2)}" stroke="${colour}" stroke-width="1" stroke-opacity="0.6"/>`,
      );
      parts.push(
        `<circle cx="${(px * cell).toFixed(2)}" cy="${(py * cell).toFixed(2)}" r="${radius}" fill="${colour}" fill-opacity="${opacity.toFixed(3)}"><title>output ${oy},${ox} tap ${i},${j}: (${py.toFixed(2)}, ${px.toFixed(2)})</title></circle>`,
      );
    }
  });
  parts.push('</svg>');
  return parts.join('\n');
}
