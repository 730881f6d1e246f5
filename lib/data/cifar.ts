/**
 * CIFAR-10's binary version (cifar-10-binary.tar.gz, https://www.cs.toronto.edu/~kriz/cifar.html):
 * each record is 1 label byte followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue,
 * row-major 32x32) — already NCHW. Training data is data_batch_1..5.bin, test data test_batch.bin.
 *
 *   const train = loadCifar10('data/cifar-10-batches-bin', { split: 'train' });
 */
import * as fs from 'node:fs';
import { checkBytes, checkDirectory, expectOptionsObject } from '../check';
import { ArgumentError, describe, IoError } from '../errors';
import type { ImageDataset } from './dataset';
import { readMaybeGzipped } from './files';

const SIDE = 32;
const PIXELS = 3 * SIDE * SIDE;
const RECORD = 1 + PIXELS;

export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

/** Parses one binary batch; `file` names the source in error messages. */
export function parseCifarBatch(bytes: Uint8Array, file = '<buffer>'): { images: Float32Array; labels: Uint8Array } {
  checkBytes('parseCifarBatch', bytes);
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    throw new IoError(
      `${file}: not a CIFAR-10 binary batch: ${bytes.length} bytes is not a positive multiple of the ${RECORD}-byte record ` +
        `(${bytes.length % RECORD} bytes left over: truncated or the wrong file)`,
    );
  }
  const n = bytes.length / RECORD;
  const images = new Float32Array(n * PIXELS);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * RECORD;
    const label = bytes[at];
    if (label > 9) {
      throw new IoError(`${file}: record ${i} has label ${label}, outside 0..9 (not a CIFAR-10 batch, or CIFAR-100?)`);
    }
    labels[i] = label;
    const out = i * PIXELS;
    for (let p = 0; p < PIXELS; p++) images[out + p] = bytes[at + 1 + p] / 255;
  }
  return { images, labels };
}

/**
 * The most a (gzipped) batch file may decompress to: CIFAR-10's batches hold 10,000 records;
 * twice that leaves room for custom batches and stops a gzip bomb at ~61 MB.
 */
const MAX_BATCH_BYTES = 20_000 * RECORD;

/** Reads one or more batch files (gzipped or not) into one dataset. */
export function readCifarBatches(files: readonly string[]): ImageDataset {
  if (!Array.isArray(files as unknown) || files.length === 0 || !files.every((f) => typeof f === 'string')) {
    throw new ArgumentError(
      `readCifarBatches: expected files to be a non-empty array of paths but received ${describe(files)}`,
    );
  }
  const parts = files.map((f) =>
    parseCifarBatch(
      readMaybeGzipped(f, () => MAX_BATCH_BYTES),
      f,
    ),
  );
  const length = parts.reduce((s, p) => s + p.labels.length, 0);
  const images = new Float32Array(length * PIXELS);
  const labels = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * PIXELS);
    labels.set(p.labels, at);
    at += p.labels.length;
  }
  return {
    task: 'classification',
    length,
    channels: 3,
    height: SIDE,
    width: SIDE,
    numClasses: 10,
    classNames: [...CIFAR10_CLASSES],
    images,
    labels,
  };
}

/** CIFAR-10 from the extracted `cifar-10-batches-bin` directory. */
export function loadCifar10(dir: string, options: { split?: 'train' | 'test' } = {}): ImageDataset {
  checkDirectory('loadCifar10', dir);
  expectOptionsObject('loadCifar10', options);
  const names =
    (options.split ?? 'train') === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  const files = names.map((n) => `${dir.replace(/\/+$/, '')}/${n}`);
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) {
    throw new IoError(
      `cannot find CIFAR-10 batches in ${dir}: missing ${missing.join(', ')} (extract cifar-10-binary.tar.gz there)`,
    );
  }
  return readCifarBatches(files);
}
