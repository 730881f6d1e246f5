import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  channelStats,
  DataLoader,
  DEBIAN_FASHION_MNIST_DIR,
  GLYPH_NAMES,
  ImageDataset,
  loadCifar10,
  loadMnist,
  idxDataset,
  parseIdx,
  readCifarBatches,
  readIdx,
  subset,
  syntheticShapes,
} from '../lib/data';
import { ArgumentError, IoError } from '../lib/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flexconv-data-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('syntheticShapes', () => {
  test('is deterministic from the seed and differs between seeds', () => {
    const a = syntheticShapes({ length: 50, seed: 7 });
    const b = syntheticShapes({ length: 50, seed: 7 });
    const c = syntheticShapes({ length: 50, seed: 8 });
    expect(Buffer.from(a.images.buffer).equals(Buffer.from(b.images.buffer))).toBe(true);
    expect(Buffer.from(a.images.buffer).equals(Buffer.from(c.images.buffer))).toBe(false);
  });

  test('classification: shapes, balanced labels, values in [0, 1]', () => {
    const ds = syntheticShapes({ length: 100, seed: 1, channels: 3 });
    expect([ds.length, ds.channels, ds.height, ds.width, ds.numClasses]).toEqual([100, 3, 32, 32, 10]);
    expect(ds.images.length).toBe(100 * 3 * 32 * 32);
    expect(ds.classNames).toEqual([...GLYPH_NAMES]);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels!) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(10));
    expect(ds.images.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  test('glyph areas match their closed forms without noise or warps', () => {
    // radius R = 0.8 * 16 = 12.8 px (scale fixed at 0.8), glyph centred, no rotation/shear.
    // Aspect jitter keeps the area (sx * sy = R^2), so coverage sums are exact areas up to anti-aliasing.
    const ds = syntheticShapes({ length: 10, seed: 3, rotation: 0, shear: 0, elastic: 0, noise: 0, scale: [0.8, 0.8] });
    const R = 12.8;
    const area = (n: number): number => {
      const img = ds.images.subarray(n * 1024, (n + 1) * 1024);
      const bg = Math.min(...img);
      const fg = Math.max(...img);
      let s = 0;
      for (const v of img) s += (v - bg) / (fg - bg);
      return s;
    };
    expect(area(0)).toBeCloseTo(Math.PI * (0.8 * R) ** 2, -1); // circle
    expect(area(1)).toBeCloseTo((2 * 0.68 * R) ** 2, -1); // square
    expect(area(4) / (Math.PI * ((0.86 * R) ** 2 - (0.46 * R) ** 2))).toBeCloseTo(1, 1); // ring
    expect(area(2) / (0.5 * 1.7 * 1.55 * R * R)).toBeCloseTo(1, 1); // triangle: base 1.7, height 1.55
  });

  test('segmentation: masks name the glyph painted on top', () => {
    const ds = syntheticShapes({ task: 'segmentation', length: 40, seed: 5, noise: 0, channels: 1 });
    expect(ds.numClasses).toBe(11);
    expect(ds.classNames[0]).toBe('background');
    expect(ds.masks!.length).toBe(40 * 32 * 32);
    expect(ds.labels).toBeUndefined();
    let fgPixels = 0;
    const bad: string[] = [];
    for (let n = 0; n < ds.length; n++) {
      const img = ds.images.subarray(n * 1024, (n + 1) * 1024);
      const mask = ds.masks!.subarray(n * 1024, (n + 1) * 1024);
      // The background is a constant level; every mask pixel > 0 is brighter than it (glyphs are
      // brighter in grey mode).
      const bg = img[mask.indexOf(0)];
      for (let p = 0; p < 1024; p++) {
        if (mask[p] > 10) bad.push(`sample ${n} pixel ${p}: class ${mask[p]}`);
        if (mask[p] > 0) {
          fgPixels++;
          if (!(img[p] > bg + 0.1)) bad.push(`sample ${n} pixel ${p}: masked but not brighter than the background`);
        }
      }
    }
    expect(bad).toEqual([]);
    expect(fgPixels).toBeGreaterThan(40 * 20);
  });

  test('rejects bad options', () => {
    expect(() => syntheticShapes({ channels: 2 as 1 })).toThrow(/expected channels to be 1 or 3 but received 2/);
    expect(() => syntheticShapes({ length: -1 })).toThrow(ArgumentError);
    expect(() => syntheticShapes({ task: 'detection' as 'segmentation' })).toThrow(/expected task to be one of/);
    expect(() => syntheticShapes({ scale: [0.9, 0.2] })).toThrow(/expected scale/);
  });
});

function idxBytes(type: number, dims: number[], body: Buffer): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, body]);
}

describe('IDX reader', () => {
  test('reads uint8 images, gzipped or not', () => {
    const body = Buffer.from(Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 10));
    const raw = idxBytes(0x08, [2, 3, 4], body);
    fs.writeFileSync(path.join(tmp, 'a.idx'), raw);
    fs.writeFileSync(path.join(tmp, 'a.idx.gz'), zlib.gzipSync(raw));
    for (const f of ['a.idx', 'a.idx.gz']) {
      const r = readIdx(path.join(tmp, f));
      expect(r.dims).toEqual([2, 3, 4]);
      expect(r.data).toBeInstanceOf(Uint8Array);
      expect(Array.from(r.data)).toEqual(Array.from(body));
    }
  });

  test('reads big-endian int32, int16, float32 and float64', () => {
    const i32 = Buffer.alloc(12);
    [-5, 70000, 2].forEach((v, i) => i32.writeInt32BE(v, 4 * i));
    expect(Array.from(parseIdx(idxBytes(0x0c, [3], i32)).data)).toEqual([-5, 70000, 2]);
    const i16 = Buffer.alloc(4);
    [-300, 12].forEach((v, i) => i16.writeInt16BE(v, 2 * i));
    expect(Array.from(parseIdx(idxBytes(0x0b, [2], i16)).data)).toEqual([-300, 12]);
    const f32 = Buffer.alloc(8);
    [1.5, -0.25].forEach((v, i) => f32.writeFloatBE(v, 4 * i));
    expect(Array.from(parseIdx(idxBytes(0x0d, [1, 2], f32)).data)).toEqual([1.5, -0.25]);
    const f64 = Buffer.alloc(8);
    f64.writeDoubleBE(Math.PI);
    expect(parseIdx(idxBytes(0x0e, [1], f64)).data[0]).toBe(Math.PI);
  });

  test('names the file and the problem', () => {
    const f = (name: string, bytes: Buffer): string => {
      const p = path.join(tmp, name);
      fs.writeFileSync(p, bytes);
      return p;
    };
    expect(() => readIdx(path.join(tmp, 'nope.idx'))).toThrow(/nope\.idx: the file does not exist/);
    expect(() => readIdx(f('magic.idx', Buffer.from([1, 2, 3, 4, 5])))).toThrow(
      /magic\.idx: not an IDX file: bad magic 01 02 03 04/,
    );
    expect(() => readIdx(f('short.idx', Buffer.from([0, 0])))).toThrow(IoError);
    expect(() => readIdx(f('head.idx', Buffer.from([0, 0, 8, 3, 0, 0, 0, 2])))).toThrow(
      /head\.idx: truncated IDX header/,
    );
    expect(() => readIdx(f('trunc.idx', idxBytes(0x08, [2, 3], Buffer.alloc(5))))).toThrow(
      /trunc\.idx: truncated: dimensions \[2, 3\] of uint8 need 18 bytes but the file has 17/,
    );
    expect(() => readIdx(f('long.idx', idxBytes(0x08, [2], Buffer.alloc(3))))).toThrow(/long\.idx: has trailing bytes/);
    expect(() => readIdx(f('badgz.idx', Buffer.from([0x1f, 0x8b, 1, 2, 3])))).toThrow(
      /badgz\.idx: it looks gzipped but does not decompress/,
    );
    expect(() => loadMnist(tmp)).toThrow(/cannot find the train images in .*train-images-idx3-ubyte/);
  });

  test('loadMnist pairs images and labels and checks their counts', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'mnist-'));
    fs.writeFileSync(
      path.join(dir, 't10k-images-idx3-ubyte.gz'),
      zlib.gzipSync(idxBytes(0x08, [2, 2, 2], Buffer.from([0, 255, 51, 102, 1, 2, 3, 4]))),
    );
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idxBytes(0x08, [2], Buffer.from([3, 9])));
    const ds = loadMnist(dir, { split: 'test' });
    expect([ds.length, ds.channels, ds.height, ds.width, ds.numClasses]).toEqual([2, 1, 2, 2, 10]);
    expect(Array.from(ds.images.subarray(0, 4))).toEqual([0, 1, 0.2, 0.4].map(Math.fround));
    expect(Array.from(ds.labels!)).toEqual([3, 9]);
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idxBytes(0x08, [3], Buffer.from([3, 9, 1])));
    expect(() => loadMnist(dir, { split: 'test' })).toThrow(/holds 3 labels but .* holds 2 images/);
  });

  const haveFashion = fs.existsSync(path.join(DEBIAN_FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'));
  if (!haveFashion) {
    console.warn(
      `Fashion-MNIST test skipped: ${DEBIAN_FASHION_MNIST_DIR} not found (apt-get install dataset-fashion-mnist)`,
    );
  }
  (haveFashion ? test : test.skip)('reads the real Fashion-MNIST files (Debian dataset-fashion-mnist)', () => {
    const test10k = loadMnist(DEBIAN_FASHION_MNIST_DIR, { split: 'test' });
    expect([test10k.length, test10k.channels, test10k.height, test10k.width]).toEqual([10000, 1, 28, 28]);
    // Fashion-MNIST is balanced: 1000 test images per class.
    const counts = new Array(10).fill(0);
    for (const l of test10k.labels!) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
    expect(test10k.images.every((v) => v >= 0 && v <= 1)).toBe(true);
    const train = readIdx(path.join(DEBIAN_FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'));
    expect(train.dims).toEqual([60000]);
  });
});

describe('CIFAR-10 reader', () => {
  function record(label: number, seed: number): Buffer {
    const b = Buffer.alloc(3073);
    b[0] = label;
    for (let i = 1; i < 3073; i++) b[i] = (i * 7 + seed) & 255;
    return b;
  }

  test('reads batches in the binary format, NCHW', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cifar-'));
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), Buffer.concat([record(4, 0), record(9, 1), record(0, 2)]));
    const ds = loadCifar10(dir, { split: 'test' });
    expect([ds.length, ds.channels, ds.height, ds.width, ds.numClasses]).toEqual([3, 3, 32, 32, 10]);
    expect(Array.from(ds.labels!)).toEqual([4, 9, 0]);
    // Second record, green channel (offset 1024), pixel (1, 2): byte 1 + 1024 + 32 + 2 of the record.
    const byteIndex = 1 + 1024 + 34;
    expect(ds.images[3072 + 1024 + 34]).toBeCloseTo(((byteIndex * 7 + 1) & 255) / 255, 6);
    expect(() => loadCifar10(dir, { split: 'train' })).toThrow(/missing .*data_batch_1\.bin/);
  });

  test('rejects truncated files and labels outside 0..9', () => {
    const trunc = path.join(tmp, 'trunc.bin');
    fs.writeFileSync(trunc, Buffer.concat([record(1, 0), Buffer.alloc(100)]));
    expect(() => readCifarBatches([trunc])).toThrow(
      /trunc\.bin: not a CIFAR-10 binary batch: 3173 bytes .*100 bytes left over/,
    );
    const bad = path.join(tmp, 'bad.bin');
    fs.writeFileSync(bad, Buffer.concat([record(1, 0), record(57, 0)]));
    expect(() => readCifarBatches([bad])).toThrow(/bad\.bin: record 1 has label 57/);
  });
});

function tinyDataset(task: 'classification' | 'segmentation', n = 10): ImageDataset {
  // Pixel value encodes (sample, channel, y, x) so that crops and flips can be checked exactly.
  const C = 2;
  const H = 4;
  const W = 5;
  const images = new Float32Array(n * C * H * W);
  const masks = new Uint8Array(n * H * W);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          images[((i * C + c) * H + y) * W + x] = 1 + i * 1000 + c * 100 + y * 10 + x;
          masks[(i * H + y) * W + x] = 1 + y * W + x;
        }
  return {
    task,
    length: n,
    channels: C,
    height: H,
    width: W,
    numClasses: task === 'segmentation' ? 21 : 10,
    classNames: [],
    images,
    labels: task === 'classification' ? Uint8Array.from({ length: n }, (_, i) => i % 10) : undefined,
    masks: task === 'segmentation' ? masks : undefined,
  };
}

describe('DataLoader', () => {
  test('batches in order without shuffling, last batch partial unless dropLast', () => {
    const ds = tinyDataset('classification');
    const loader = new DataLoader(ds, { batchSize: 4 });
    expect(loader.length).toBe(3);
    const batches = [...loader];
    expect(batches.map((b) => b.input.shape)).toEqual([
      [4, 2, 4, 5],
      [4, 2, 4, 5],
      [2, 2, 4, 5],
    ]);
    expect(batches[1].target.toArray()).toEqual([4, 5, 6, 7]);
    expect(batches[2].input.data[0]).toBe(1 + 8 * 1000);
    const dropped = new DataLoader(ds, { batchSize: 4, dropLast: true });
    expect(dropped.length).toBe(2);
    expect([...dropped].length).toBe(2);
    expect(dropped.samplesPerEpoch).toBe(8);
  });

  test('seeded shuffling: a permutation per epoch, reproducible by (seed, epoch)', () => {
    const ds = tinyDataset('classification', 30);
    const order = (l: DataLoader): number[] => [...l].flatMap((b) => Array.from(b.indices));
    const a = new DataLoader(ds, { batchSize: 7, shuffle: true, seed: 3 });
    const e0 = order(a);
    const e1 = order(a);
    expect([...e0].sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(e0).not.toEqual(e1);
    expect(e0).not.toEqual(Array.from({ length: 30 }, (_, i) => i));
    const b = new DataLoader(ds, { batchSize: 7, shuffle: true, seed: 3 });
    b.setEpoch(1);
    expect(order(b)).toEqual(e1);
    const c = new DataLoader(ds, { batchSize: 7, shuffle: true, seed: 4 });
    expect(order(c)).not.toEqual(e0);
    // Labels follow their samples.
    const batch = [...new DataLoader(ds, { batchSize: 30, shuffle: true, seed: 3 })][0];
    expect(batch.target.toArray()).toEqual(Array.from(batch.indices, (i) => i % 10));
  });

  test('normalisation per channel', () => {
    const ds = syntheticShapes({ length: 64, seed: 2, channels: 3 });
    const stats = channelStats(ds);
    const loader = new DataLoader(ds, { batchSize: 64, normalize: stats });
    const x = [...loader][0].input.data;
    for (let c = 0; c < 3; c++) {
      let s = 0;
      let s2 = 0;
      for (let n = 0; n < 64; n++)
        for (let p = 0; p < 1024; p++) {
          const v = x[(n * 3 + c) * 1024 + p];
          s += v;
          s2 += v * v;
        }
      const m = s / (64 * 1024);
      expect(m).toBeCloseTo(0, 4);
      expect(Math.sqrt(s2 / (64 * 1024) - m * m)).toBeCloseTo(1, 3);
    }
    expect(() => new DataLoader(ds, { normalize: { mean: [0], std: [1] } })).toThrow(
      /expected normalize to be \{ mean, std \} with 3 values/,
    );
  });

  test('random crop and flip move image and mask together, padding with zeros', () => {
    const ds = tinyDataset('segmentation', 16);
    const loader = new DataLoader(ds, { batchSize: 16, randomCrop: { padding: 2 }, horizontalFlip: true, seed: 9 });
    const { input, target, indices } = [...loader][0];
    expect(target.shape).toEqual([16, 4, 5]);
    const x = input.data;
    const m = target.data;
    let shifted = 0;
    let flipped = 0;
    let zeros = 0;
    for (let k = 0; k < 16; k++) {
      const i = indices[k];
      for (let y = 0; y < 4; y++)
        for (let xx = 0; xx < 5; xx++) {
          const v0 = x[((k * 2 + 0) * 4 + y) * 5 + xx];
          const v1 = x[((k * 2 + 1) * 4 + y) * 5 + xx];
          const mv = m[(k * 4 + y) * 5 + xx];
          if (v0 === 0) {
            zeros++;
            expect(v1).toBe(0);
            expect(mv).toBe(0);
            continue;
          }
          // Decode the source pixel; the mask must come from the same source pixel, both channels too.
          const sy = Math.floor(((v0 - 1) % 100) / 10);
          const sx = (v0 - 1) % 10;
          expect(Math.floor((v0 - 1) / 1000)).toBe(i);
          expect(v1).toBe(v0 + 100);
          expect(mv).toBe(1 + sy * 5 + sx);
          if (sy !== y) shifted++;
          if (xx < 4 && x[(k * 2 * 4 + y) * 5 + xx + 1] !== 0 && x[(k * 2 * 4 + y) * 5 + xx + 1] < v0) flipped++;
        }
    }
    expect(zeros).toBeGreaterThan(0);
    expect(shifted).toBeGreaterThan(0);
    expect(flipped).toBeGreaterThan(0);
  });

  test('rejects bad arguments', () => {
    const ds = tinyDataset('classification');
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(
      /DataLoader: expected batchSize to be a positive integer but received 0/,
    );
    expect(() => new DataLoader(null as unknown as ImageDataset)).toThrow(/expected dataset to be an ImageDataset/);
    expect(() => subset(ds, [11])).toThrow(/expected indices\[0\] to be an integer in \[0, 10\)/);
  });
});

describe('readers bound what they decompress and check what they read', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexconv-bomb-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const megabyteOfZeros = zlib.gzipSync(Buffer.alloc(1 << 20));
  /** A gzip file of `mb` concatenated 1 MB members (a few KB on disk), after `head` uncompressed bytes. */
  const bomb = (file: string, mb: number, head?: Buffer): string => {
    const parts = head ? [zlib.gzipSync(head)] : [];
    for (let i = 0; i < mb; i++) parts.push(megabyteOfZeros);
    fs.writeFileSync(file, Buffer.concat(parts));
    return file;
  };
  const idxHeader = (type: number, dims: number[]): Buffer => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b[2] = type;
    b[3] = dims.length;
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };

  test('a gzip bomb given to the CIFAR-10 reader fails fast, under 100 MB of memory', () => {
    const file = bomb(path.join(dir, 'data_batch_1.bin.gz'), 2000); // 2 GB once decompressed
    const rss = process.memoryUsage().rss;
    expect(() => readCifarBatches([file])).toThrow(IoError);
    expect(() => readCifarBatches([file])).toThrow(/decompresses to more than the 61460000 bytes its contents allow/);
    expect(process.memoryUsage().rss - rss).toBeLessThan(100 * 1024 * 1024);
  });

  test('an IDX bomb is stopped at the size its header declares', () => {
    const file = bomb(path.join(dir, 'train-images-idx3-ubyte.gz'), 500, idxHeader(0x08, [10, 28, 28]));
    const rss = process.memoryUsage().rss;
    expect(() => readIdx(file)).toThrow(/decompresses to more than the 7856 bytes its contents allow/);
    expect(process.memoryUsage().rss - rss).toBeLessThan(100 * 1024 * 1024);
  });

  test('IDX headers of impossible sizes and labels outside the classes are IoErrors', () => {
    expect(() => parseIdx(new Uint8Array(idxHeader(0x08, [0, 2 ** 32 - 1, 2 ** 32 - 1])), 'huge')).toThrow(
      /items of .* values, more than/,
    );
    expect(() => parseIdx(new Uint8Array(idxHeader(0x0e, [70000, 100, 100, 10])), 'big')).toThrow(
      /more than the 2147483647 supported/,
    );
    const images = path.join(dir, 'i-idx3-ubyte');
    const labels = path.join(dir, 'l-idx1-ubyte');
    fs.writeFileSync(images, Buffer.concat([idxHeader(0x08, [2, 2, 2]), Buffer.alloc(8)]));
    fs.writeFileSync(labels, Buffer.concat([idxHeader(0x08, [2]), Buffer.from([3, 255])]));
    expect(() => idxDataset(images, labels)).toThrow(/label 255 is out of range for 10 classes/);
    fs.writeFileSync(labels, Buffer.concat([idxHeader(0x08, [2]), Buffer.from([3, 9])]));
    expect(idxDataset(images, labels).numClasses).toBe(10);
  });
});
