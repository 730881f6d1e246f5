/**
 * A minimal PNG encoder for 8-bit greyscale images (no dependency: Node's zlib for the
 * compression, a CRC-32 table for the chunk checksums), so reports can embed pictures as
 * data URLs: a 32x32 picture takes about a kilobyte instead of a thousand SVG rectangles.
 */
import { deflateSync } from 'node:zlib';
import { ArgumentError, describe, ShapeError } from '../errors';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/** PNG bytes of a width x height greyscale image, `pixels` row-major, 0 black to 255 white. */
export function encodeGreyPng(pixels: Uint8Array, width: number, height: number): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ArgumentError(
      `encodeGreyPng: expected width and height to be positive integers but received ${describe(width)} and ${describe(height)}`,
    );
  }
  if (!(pixels instanceof Uint8Array)) {
    throw new ArgumentError(`encodeGreyPng: expected pixels to be a Uint8Array but received ${describe(pixels)}`);
  }
  if (pixels.length !== width * height) {
    throw new ShapeError(
      `encodeGreyPng: expected ${width} x ${height} = ${width * height} pixels but received ${pixels.length}`,
    );
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // colour type: greyscale
  // Each row is prefixed by its filter type (0: none).
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}
