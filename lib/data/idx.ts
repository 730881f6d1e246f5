/**
 * The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): magic
 * 0x00 0x00 <type> <ndim>, ndim big-endian uint32 sizes, then the values big-endian.
 * Files may be gzipped (the distributed .gz files) or not.
 *
 *   const train = loadMnist('/usr/share/datasets/fashion-mnist', { split: 'train' });
 */
import { checkBytes, checkDirectory, expectOptionsObject } from '../check';
import { IoError } from '../errors';
import type { ImageDataset } from './dataset';
import { findFile, readMaybeGzipped } from './files';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dims: number[];
  data: IdxData;
}

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Sanity bounds: one item (the product of every dimension but the first) and the whole array. */
const MAX_ITEM_VALUES = 1 << 26;
const MAX_IDX_BYTES = 2 ** 31 - 1;

/**
 * The dimensions and value count from an IDX header (already checked for its magic and length),
 * refusing what no real file holds: items of more than 2^26 values (a [0, 2^32-1, 2^32-1] header
 * would otherwise load as an empty set of 4-billion-pixel images) and arrays over 2 GiB.
 */
function idxDims(bytes: Uint8Array, file: string): { dims: number[]; count: number; bytes: number } {
  const type = TYPES[bytes[2]];
  const ndim = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const item = dims.slice(1).reduce((a, b) => a * b, 1);
  if (item > MAX_ITEM_VALUES) {
    throw new IoError(
      `${file}: IDX dimensions [${dims.join(', ')}] give items of ${item} values, more than the ${MAX_ITEM_VALUES} any dataset holds`,
    );
  }
  const count = dims[0] * item;
  const total = 4 + 4 * ndim + count * type.bytes;
  if (total > MAX_IDX_BYTES) {
    throw new IoError(
      `${file}: IDX dimensions [${dims.join(', ')}] of ${type.name} need ${total} bytes, more than the ${MAX_IDX_BYTES} supported`,
    );
  }
  return { dims, count, bytes: total };
}

/** The decompressed size an IDX header allows (for readMaybeGzipped): exactly what it declares. */
function idxLimit(file: string): (prefix: Uint8Array) => number {
  return (prefix) => {
    checkIdxHeader(prefix, file);
    return idxDims(prefix, file).bytes;
  };
}

/** The magic, type and header length of IDX bytes (at least their beginning). */
function checkIdxHeader(bytes: Uint8Array, file: string): void {
  if (bytes.length < 4)
    throw new IoError(`${file}: not an IDX file: ${bytes.length} bytes, shorter than the 4-byte magic`);
  if (bytes[0] !== 0 || bytes[1] !== 0 || !(bytes[2] in TYPES)) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new IoError(`${file}: not an IDX file: bad magic ${magic} (expected 00 00 <type 08|09|0b|0c|0d|0e> <ndim>)`);
  }
  const ndim = bytes[3];
  if (ndim === 0) throw new IoError(`${file}: IDX header declares 0 dimensions`);
  if (bytes.length < 4 + 4 * ndim) {
    throw new IoError(
      `${file}: truncated IDX header: ${ndim} dimensions need ${4 + 4 * ndim} bytes but the file has ${bytes.length}`,
    );
  }
}

/** Parses IDX bytes; `file` only names the source in error messages. */
export function parseIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  checkBytes('parseIdx', bytes);
  checkIdxHeader(bytes, file);
  const type = TYPES[bytes[2]];
  const headerBytes = 4 + 4 * bytes[3];
  const { dims, count } = idxDims(bytes, file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const expected = headerBytes + count * type.bytes;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'has trailing bytes';
    throw new IoError(
      `${file}: ${what}: dimensions [${dims.join(', ')}] of ${type.name} need ${expected} bytes but the file has ${bytes.length}`,
    );
  }
  const body = headerBytes;
  let data: IdxData;
  switch (type.name) {
    case 'uint8':
      data = bytes.slice(body, expected);
      break;
    case 'int8':
      data = new Int8Array(bytes.slice(body, expected).buffer);
      break;
    case 'int16':
      data = Int16Array.from({ length: count }, (_, i) => view.getInt16(body + 2 * i, false));
      break;
    case 'int32':
      data = Int32Array.from({ length: count }, (_, i) => view.getInt32(body + 4 * i, false));
      break;
    case 'float32':
      data = Float32Array.from({ length: count }, (_, i) => view.getFloat32(body + 4 * i, false));
      break;
    default:
      data = Float64Array.from({ length: count }, (_, i) => view.getFloat64(body + 8 * i, false));
  }
  return { dims, data };
}

/** Reads an IDX file (gzipped or not). */
export function readIdx(file: string): IdxArray {
  return parseIdx(readMaybeGzipped(file, idxLimit(file)), file);
}

/**
 * Builds an image classification dataset from an IDX images file ([N, H, W] uint8) and labels
 * file ([N] uint8). The class count is classNames.length, else 10 (MNIST's and Fashion-MNIST's);
 * a label outside it is an IoError (a label of 255 does not make a 256-class dataset).
 */
export function idxDataset(imagesFile: string, labelsFile: string, classNames?: readonly string[]): ImageDataset {
  const images = readIdx(imagesFile);
  const labels = readIdx(labelsFile);
  if (images.dims.length !== 3 || !(images.data instanceof Uint8Array)) {
    throw new IoError(
      `${imagesFile}: expected uint8 images of shape [N, H, W] but the file holds ${images.dims.length}-d data`,
    );
  }
  if (labels.dims.length !== 1 || !(labels.data instanceof Uint8Array)) {
    throw new IoError(
      `${labelsFile}: expected uint8 labels of shape [N] but the file holds shape [${labels.dims.join(', ')}]`,
    );
  }
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) {
    throw new IoError(`${labelsFile}: holds ${labels.dims[0]} labels but ${imagesFile} holds ${n} images`);
  }
  let maxLabel = 0;
  for (const l of labels.data) maxLabel = Math.max(maxLabel, l);
  const numClasses = classNames?.length ?? 10;
  if (maxLabel >= numClasses) {
    throw new IoError(
      `${labelsFile}: label ${maxLabel} is out of range for ${numClasses} classes (pass classNames for other class counts)`,
    );
  }
  const pixels = new Float32Array(images.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = images.data[i] / 255;
  return {
    task: 'classification',
    length: n,
    channels: 1,
    height: h,
    width: w,
    numClasses,
    classNames: classNames ? [...classNames] : Array.from({ length: numClasses }, (_, i) => String(i)),
    images: pixels,
    labels: labels.data,
  };
}

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/**
 * MNIST or Fashion-MNIST from a directory holding the four standard files (train-images-idx3-ubyte,
 * train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz or not).
 * Debian's dataset-fashion-mnist package installs them in /usr/share/datasets/fashion-mnist.
 */
export function loadMnist(
  dir: string,
  options: { split?: 'train' | 'test'; classNames?: readonly string[] } = {},
): ImageDataset {
  checkDirectory('loadMnist', dir);
  expectOptionsObject('loadMnist', options);
  const prefix = (options.split ?? 'train') === 'train' ? 'train' : 't10k';
  const images = findFile(dir, [`${prefix}-images-idx3-ubyte`, `${prefix}-images.idx3-ubyte`], `${prefix} images`);
  const labels = findFile(dir, [`${prefix}-labels-idx1-ubyte`, `${prefix}-labels.idx1-ubyte`], `${prefix} labels`);
  return idxDataset(images, labels, options.classNames);
}

/** Where Debian's dataset-fashion-mnist package puts the files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
