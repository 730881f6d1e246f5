/**
 * DataLoader: turns an in-memory ImageDataset into batches of tensors, with seeded shuffling,
 * drop-last, per-channel normalisation and the usual light augmentation (random crop with
 * zero padding, horizontal flip) applied identically to images and segmentation masks.
 *
 *   const loader = new DataLoader(train, { batchSize: 64, shuffle: true, seed: 1,
 *     normalize: channelStats(train), randomCrop: { padding: 4 }, horizontalFlip: true });
 *   for (const { input, target } of loader) { ... }   // one epoch
 *
 * Each pass over the loader is one epoch; the order and the augmentation of epoch e depend
 * only on (seed, e), so a run resumed at epoch e sees exactly the batches it would have seen.
 */
import * as dist from '../distributed/process_group';
import { checkInt, checkOptionKeys } from '../check';
import { ArgumentError, describe } from '../errors';
import { Generator } from '../random';
import { Tensor } from '../tensor';
import type { ImageDataset } from './dataset';

export interface DataLoaderOptions {
  batchSize?: number;
  /** Reshuffle every epoch (default false). */
  shuffle?: boolean;
  /** Seed for shuffling and augmentation (default 0). */
  seed?: number;
  /** Skip the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Per-channel (x - mean) / std, applied after augmentation. */
  normalize?: { mean: readonly number[]; std: readonly number[] };
  /** Random crop of the original size from the image padded with zeros by `padding` pixels on each side. */
  randomCrop?: { padding: number };
  /** Mirror left-right with probability 0.5. */
  horizontalFlip?: boolean;
  /**
   * Data-parallel training: each rank takes a disjoint slice of every epoch's order (the same
   * seeded permutation on every rank; rank r takes positions r, r + W, r + 2W, ...), all ranks
   * the same number of samples (the last n mod W of the order are left out). `true` reads the
   * rank and world size from lib/distributed (after distributed.init()).
   */
  distributed?: boolean | { rank: number; worldSize: number };
}

export interface Batch {
  /** [B, C, H, W] */
  input: Tensor;
  /** Classification: [B] class indices; segmentation: [B, H, W] class indices (stored as float). */
  target: Tensor;
  /** Dataset indices of the samples, in batch order. */
  indices: Int32Array;
}

export class DataLoader implements Iterable<Batch> {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  private readonly normalize?: { mean: Float32Array; invStd: Float32Array };
  private readonly padding: number;
  private readonly flip: boolean;
  /** The epoch the next pass will be. */
  epoch = 0;
  /** This loader's slice of the data in data-parallel training (rank 0 of 1 otherwise). */
  readonly shard: { rank: number; worldSize: number };

  constructor(dataset: ImageDataset, options: DataLoaderOptions = {}) {
    const where = 'DataLoader';
    if (dataset === null || typeof dataset !== 'object' || !(dataset.images instanceof Float32Array)) {
      throw new ArgumentError(`${where}: expected dataset to be an ImageDataset but received ${describe(dataset)}`);
    }
    checkOptionKeys(where, options, [
      'batchSize',
      'shuffle',
      'seed',
      'dropLast',
      'normalize',
      'randomCrop',
      'horizontalFlip',
      'distributed',
    ]);
    if (!dataset.labels && !dataset.masks) {
      throw new ArgumentError(`${where}: the dataset has neither labels nor masks`);
    }
    this.dataset = dataset;
    this.batchSize = checkInt(where, 'batchSize', options.batchSize ?? 32, 1);
    this.shuffle = options.shuffle ?? false;
    this.seed = checkInt(where, 'seed', options.seed ?? 0);
    this.dropLast = options.dropLast ?? false;
    this.flip = options.horizontalFlip ?? false;
    this.padding = options.randomCrop ? checkInt(where, 'randomCrop.padding', options.randomCrop.padding, 0) : -1;
    this.shard = resolveShard(where, options.distributed ?? false);
    if (options.normalize) {
      const { mean, std } = options.normalize;
      const c = dataset.channels;
      if (
        !Array.isArray(mean) ||
        mean.length !== c ||
        !Array.isArray(std) ||
        std.length !== c ||
        std.some((s) => !(s > 0))
      ) {
        throw new ArgumentError(
          `${where}: expected normalize to be { mean, std } with ${c} values each (std > 0) but received ${JSON.stringify(options.normalize)}`,
        );
      }
      this.normalize = { mean: Float32Array.from(mean), invStd: Float32Array.from(std, (s) => 1 / s) };
    }
  }

  /** Samples this rank sees per epoch before batching (the whole dataset without sharding). */
  get shardLength(): number {
    const { worldSize } = this.shard;
    return worldSize === 1 ? this.dataset.length : Math.floor(this.dataset.length / worldSize);
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.shardLength;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Number of samples per epoch (after drop-last). */
  get samplesPerEpoch(): number {
    return this.dropLast ? this.length * this.batchSize : this.shardLength;
  }

  /** Sets the epoch the next pass will produce (for resuming). */
  setEpoch(epoch: number): void {
    this.epoch = checkInt('DataLoader.setEpoch', 'epoch', epoch, 0);
  }

  [Symbol.iterator](): Iterator<Batch> {
    return this.batches(this.epoch++);
  }

  /** The batches of epoch `epoch` (does not change `this.epoch`). */
  *batches(epoch: number): IterableIterator<Batch> {
    const g = new Generator((this.seed * 0x9e3779b1 + epoch * 0x85ebca6b + 1) >>> 0);
    const full = this.shuffle
      ? g.permutation(this.dataset.length)
      : Int32Array.from({ length: this.dataset.length }, (_, i) => i);
    const { rank, worldSize } = this.shard;
    const n = this.shardLength;
    const order = worldSize === 1 ? full : Int32Array.from({ length: n }, (_, k) => full[rank + k * worldSize]);
    for (let b = 0; b < this.length; b++) {
      const indices = order.subarray(b * this.batchSize, Math.min(n, (b + 1) * this.batchSize));
      yield this.makeBatch(indices, g);
    }
  }

  private makeBatch(indices: Int32Array, g: Generator): Batch {
    const ds = this.dataset;
    const { channels: C, height: H, width: W } = ds;
    const B = indices.length;
    const hw = H * W;
    const input = new Float32Array(B * C * hw);
    const seg = ds.task === 'segmentation';
    const target = new Float32Array(seg ? B * hw : B);
    for (let k = 0; k < B; k++) {
      const i = indices[k];
      // Augmentation draws happen in a fixed order per sample so that epochs are reproducible.
      const dy = this.padding >= 0 ? g.int(2 * this.padding + 1) - this.padding : 0;
      const dx = this.padding >= 0 ? g.int(2 * this.padding + 1) - this.padding : 0;
      const mirror = this.flip && g.uniform() < 0.5;
      for (let c = 0; c < C; c++) {
        const src = ds.images.subarray((i * C + c) * hw, (i * C + c + 1) * hw);
        const dst = input.subarray((k * C + c) * hw, (k * C + c + 1) * hw);
        copyShifted(src, dst, H, W, dy, dx, mirror, 0);
        if (this.normalize) {
          const m = this.normalize.mean[c];
          const s = this.normalize.invStd[c];
          for (let p = 0; p < hw; p++) dst[p] = (dst[p] - m) * s;
        }
      }
      if (seg) {
        const src = ds.masks!.subarray(i * hw, (i + 1) * hw);
        copyShifted(src, target.subarray(k * hw, (k + 1) * hw), H, W, dy, dx, mirror, 0);
      } else {
        target[k] = ds.labels![i];
      }
    }
    return {
      input: Tensor.from(input, [B, C, H, W]),
      target: Tensor.from(target, seg ? [B, H, W] : [B]),
      indices: Int32Array.from(indices),
    };
  }
}

function resolveShard(where: string, d: unknown): { rank: number; worldSize: number } {
  if (d === false) return { rank: 0, worldSize: 1 };
  if (d === true) {
    if (!dist.isInitialized())
      throw new ArgumentError(
        `${where}: distributed: true needs distributed.init() first (or pass { rank, worldSize })`,
      );
    return { rank: dist.rank(), worldSize: dist.worldSize() };
  }
  const o = d as { rank?: unknown; worldSize?: unknown } | null;
  if (o && typeof o === 'object') {
    const worldSize = checkInt(where, 'distributed.worldSize', o.worldSize, 1);
    const rank = checkInt(where, 'distributed.rank', o.rank, 0);
    if (rank >= worldSize)
      throw new ArgumentError(`${where}: expected distributed.rank in [0, ${worldSize}) but received ${rank}`);
    return { rank, worldSize };
  }
  throw new ArgumentError(
    `${where}: expected distributed to be a boolean or { rank, worldSize } but received ${describe(d)}`,
  );
}

/** dst[y][x] = src[y + dy][x' + dx] (x' mirrored if asked), `fill` outside the source. */
function copyShifted(
  src: ArrayLike<number>,
  dst: Float32Array,
  H: number,
  W: number,
  dy: number,
  dx: number,
  mirror: boolean,
  fill: number,
): void {
  for (let y = 0; y < H; y++) {
    const sy = y + dy;
    if (sy < 0 || sy >= H) {
      dst.fill(fill, y * W, (y + 1) * W);
      continue;
    }
    for (let x = 0; x < W; x++) {
      const xm = mirror ? W - 1 - x : x;
      const sx = xm + dx;
      dst[y * W + x] = sx < 0 || sx >= W ? fill : src[sy * W + sx];
    }
  }
}
