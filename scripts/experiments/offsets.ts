/**
 * Where a trained deformable layer samples: for a few test images, the 3x3 sampling points of
 * one output pixel on the object and one on the background, drawn over the image next to
 * the regular grid they moved from (lib/nn/deform's samplingLocationsSvg). The layer shown is
 * the network's deformable layer whose offsets are largest relative to its own pixel grid, so
 * the picture shows the most deformation the network learned, whichever layer that is.
 */
import { noGrad } from '../../lib/autograd';
import type { ImageDataset } from '../../lib/data';
import { DeformConv2d, ModulatedDeformConv2d, Module, samplingLocations, type SamplingLocations } from '../../lib/nn';
import { samplingLocationsSvg } from '../../lib/report/sampling_svg';
import { tidy } from '../../lib/scope';
import { Tensor } from '../../lib/tensor';

export interface OffsetFigure {
  /** Path of the layer in the model (e.g. 'layer3.0.conv1'). */
  layer: string;
  /** Mean |offset| of that layer over the images, in its own feature-map pixels. */
  meanOffset: number;
  /** Image pixels per feature-map pixel of that layer (its total stride). */
  stride: number;
  /** One SVG per image. */
  svgs: string[];
}

type DeformLayer = DeformConv2d | ModulatedDeformConv2d;

interface LayerLocations {
  /** In the layer's own feature-map pixels. */
  own: SamplingLocations;
  /** Moved to image pixels. */
  image: SamplingLocations;
}

/** Runs `model` on `input`, returning the sampling locations of every deformable layer (by path). */
function locationsOfEveryLayer(model: Module, input: Tensor, imageHeight: number): Map<string, LayerLocations> {
  const found = new Map<string, LayerLocations>();
  const layers = [...model.namedModules()].filter(
    (e): e is [string, DeformLayer] => e[1] instanceof DeformConv2d || e[1] instanceof ModulatedDeformConv2d,
  );
  // forwardWith is what every path calls (forward, and inference with batch norm folded in).
  layers.forEach(([name, layer]) => {
    const original = layer.forwardWith;
    layer.forwardWith = (x: Tensor, weight: Tensor, bias: Tensor | null) => {
      const own = samplingLocations(layer, x);
      found.set(name, { own, image: toImagePixels(own, imageHeight / x.shape[2]) });
      return original.call(layer, x, weight, bias);
    };
  });
  try {
    tidy(() => noGrad(() => void model.forward(input)));
  } finally {
    for (const [, layer] of layers) delete (layer as { forwardWith?: unknown }).forwardWith;
  }
  return found;
}

/**
 * Locations on a feature map `factor` times coarser than the image, moved to image pixels:
 * feature pixel v covers image pixels around (v + 0.5) * factor - 0.5. The regular-grid
 * geometry is rescaled the same way so the SVG draws each tap's origin in the right place.
 */
function toImagePixels(loc: SamplingLocations, factor: number): SamplingLocations {
  if (factor === 1) return loc;
  const shift = (factor - 1) / 2;
  const scale = (a: Float32Array): Float32Array => a.map((v) => v * factor + shift);
  return {
    ...loc,
    y: scale(loc.y),
    x: scale(loc.x),
    stride: [loc.stride[0] * factor, loc.stride[1] * factor],
    padding: [loc.padding[0] * factor - shift, loc.padding[1] * factor - shift],
    dilation: [loc.dilation[0] * factor, loc.dilation[1] * factor],
  };
}

function meanOffset(loc: SamplingLocations): number {
  const [N, G, K, Ho, Wo] = loc.shape;
  const [, kw] = loc.kernelSize;
  let sum = 0;
  for (let n = 0; n < N; n++)
    for (let g = 0; g < G; g++)
      for (let k = 0; k < K; k++)
        for (let oy = 0; oy < Ho; oy++)
          for (let ox = 0; ox < Wo; ox++) {
            const at = (((n * G + g) * K + k) * Ho + oy) * Wo + ox;
            const ry = oy * loc.stride[0] - loc.padding[0] + Math.floor(k / kw) * loc.dilation[0];
            const rx = ox * loc.stride[1] - loc.padding[1] + (k % kw) * loc.dilation[1];
            sum += Math.hypot(loc.y[at] - ry, loc.x[at] - rx);
          }
  return sum / (N * G * K * Ho * Wo);
}

/**
 * Two output pixels of the layer for image `grey` ([H, W] in [0, 1]): the one on the object
 * (brighter than the midpoint of the image's range) nearest the centre, and the one on the
 * background nearest the centre, so both sets of points are near the object.
 */
function chooseOutputPixels(grey: Float32Array, H: number, W: number, loc: SamplingLocations): [number, number][] {
  const [, , , Ho, Wo] = loc.shape;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of grey) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const mid = (lo + hi) / 2;
  const centre = [(H - 1) / 2, (W - 1) / 2];
  const best: { on: [number, number] | null; off: [number, number] | null; dOn: number; dOff: number } = {
    on: null,
    off: null,
    dOn: Infinity,
    dOff: Infinity,
  };
  for (let oy = 0; oy < Ho; oy++) {
    for (let ox = 0; ox < Wo; ox++) {
      // The centre tap's regular position is the output pixel's place in the image.
      const y = oy * loc.stride[0] - loc.padding[0] + Math.floor(loc.kernelSize[0] / 2) * loc.dilation[0];
      const x = ox * loc.stride[1] - loc.padding[1] + Math.floor(loc.kernelSize[1] / 2) * loc.dilation[1];
      const yi = Math.min(H - 1, Math.max(0, Math.round(y)));
      const xi = Math.min(W - 1, Math.max(0, Math.round(x)));
      const d = Math.hypot(y - centre[0], x - centre[1]);
      if (grey[yi * W + xi] > mid) {
        if (d < best.dOn) Object.assign(best, { on: [oy, ox], dOn: d });
      } else if (d < best.dOff) Object.assign(best, { off: [oy, ox], dOff: d });
    }
  }
  return [best.on, best.off].filter((p): p is [number, number] => p !== null);
}

/**
 * The figure for `model` on the first `count` images of `dataset` (`normalize` is what the
 * loader applied in training), or null when the model has no deformable layer.
 */
export function offsetFigure(
  model: Module,
  dataset: ImageDataset,
  normalize: { mean: readonly number[]; std: readonly number[] },
  count = 3,
): OffsetFigure | null {
  const { channels: C, height: H, width: W } = dataset;
  const n = Math.min(count, dataset.length);
  const plane = C * H * W;
  const raw = dataset.images.slice(0, n * plane);
  const input = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const c = Math.floor(i / (H * W)) % C;
    input[i] = (raw[i] - normalize.mean[c]) / normalize.std[c];
  }
  const wasTraining = model.training;
  model.eval();
  let all: Map<string, LayerLocations>;
  try {
    all = locationsOfEveryLayer(model, Tensor.from(input, [n, C, H, W]), H);
  } finally {
    model.train(wasTraining);
  }
  if (all.size === 0) return null;
  let chosen = '';
  let largest = -1;
  for (const [name, loc] of all) {
    const m = meanOffset(loc.own);
    if (m > largest) [chosen, largest] = [name, m];
  }
  const { own, image: loc } = all.get(chosen) as LayerLocations;
  const svgs: string[] = [];
  const cell = Math.max(4, Math.round(224 / Math.max(H, W)));
  for (let b = 0; b < n; b++) {
    const picture = Tensor.from(raw.slice(b * plane, (b + 1) * plane), [C, H, W]);
    const grey = new Float32Array(H * W);
    for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) grey[p] += raw[b * plane + c * H * W + p] / C;
    svgs.push(
      samplingLocationsSvg(picture, loc, {
        batch: b,
        pixels: chooseOutputPixels(grey, H, W, loc),
        cellSize: cell,
        markerSize: 3.5,
      }),
    );
    picture.dispose();
  }
  return { layer: chosen, meanOffset: largest, stride: loc.stride[0] / own.stride[0], svgs };
}
