/**
 * In-memory image datasets: the common shape every reader (synthetic shapes, IDX, CIFAR-10)
 * returns and the DataLoader consumes. Pixels are float32 in [0, 1], NCHW, one sample after
 * another; classification datasets carry one label per sample, segmentation datasets one
 * class index per pixel.
 */
import { checkInt } from '../check';
import { ArgumentError, describe } from '../errors';

export type Task = 'classification' | 'segmentation';

export interface ImageDataset {
  readonly task: Task;
  /** Number of samples. */
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Number of classes (for segmentation: including the background class 0). */
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** length * channels * height * width values in [0, 1]. */
  readonly images: Float32Array;
  /** Classification: one class index per sample. */
  readonly labels?: Uint8Array;
  /** Segmentation: length * height * width class indices. */
  readonly masks?: Uint8Array;
}

/** @internal An ImageDataset argument, or an ArgumentError naming `where`. */
export function checkDataset(where: string, ds: unknown): void {
  if (ds === null || typeof ds !== 'object' || !((ds as ImageDataset).images instanceof Float32Array)) {
    throw new ArgumentError(`${where}: expected ds to be an ImageDataset but received ${describe(ds)}`);
  }
}

/** The samples at `indices`, as a new dataset (copies). */
export function subset(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  checkDataset('subset', ds);
  if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number') {
    throw new ArgumentError(
      `subset: expected indices to be an array of image indices but received ${describe(indices)}`,
    );
  }
  const plane = ds.channels * ds.height * ds.width;
  const hw = ds.height * ds.width;
  const images = new Float32Array(indices.length * plane);
  const labels = ds.labels ? new Uint8Array(indices.length) : undefined;
  const masks = ds.masks ? new Uint8Array(indices.length * hw) : undefined;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.length) {
      throw new ArgumentError(`subset: expected indices[${k}] to be an integer in [0, ${ds.length}) but received ${i}`);
    }
    images.set(ds.images.subarray(i * plane, (i + 1) * plane), k * plane);
    if (labels) labels[k] = ds.labels![i];
    if (masks) masks.set(ds.masks!.subarray(i * hw, (i + 1) * hw), k * hw);
  }
  return { ...ds, length: indices.length, images, labels, masks };
}

/** The first `n` samples (or all of them if there are fewer). */
export function take(ds: ImageDataset, n: number): ImageDataset {
  checkDataset('take', ds);
  checkInt('take', 'n', n, 0);
  const count = Math.min(n, ds.length);
  return subset(
    ds,
    Array.from({ length: count }, (_, i) => i),
  );
}

/** Per-channel mean and standard deviation over the whole dataset (for normalisation). */
export function channelStats(ds: ImageDataset): { mean: number[]; std: number[] } {
  checkDataset('channelStats', ds);
  const hw = ds.height * ds.width;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < ds.channels; c++) {
    let s = 0;
    let s2 = 0;
    for (let n = 0; n < ds.length; n++) {
      const base = (n * ds.channels + c) * hw;
      for (let p = 0; p < hw; p++) {
        const v = ds.images[base + p];
        s += v;
        s2 += v * v;
      }
    }
    const count = Math.max(1, ds.length * hw);
    const m = s / count;
    mean.push(m);
    std.push(Math.sqrt(Math.max(1e-12, s2 / count - m * m)));
  }
  return { mean, std };
}
