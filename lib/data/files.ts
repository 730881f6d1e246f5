/**
 * Reading dataset files: whole-file reads with errors that name the file, and transparent
 * gunzip (detected by the gzip magic bytes, not by the file name).
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { IoError } from '../errors';

/**
 * How many bytes a gzipped file may decompress to, from the first bytes it decompresses to (a
 * format's header), so that a gzip bomb fails fast instead of filling memory. Throw an IoError
 * to reject the header itself.
 */
export type DecompressedLimit = (prefix: Uint8Array) => number;

/** Compressed bytes decompressed first to read a header: bounded output (at most ~1000x). */
const PREFIX_INPUT_BYTES = 4096;

/**
 * The file's bytes, gunzipped if they start with the gzip magic, never more than
 * `limit(prefix)` bytes of them (a larger stream is an IoError, raised before the memory is used).
 */
export function readMaybeGzipped(file: string, limit: DecompressedLimit): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'the file does not exist' : err.code === 'EISDIR' ? 'it is a directory' : err.message;
    throw new IoError(`cannot read ${file}: ${why}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    let max: number;
    try {
      // What the first compressed bytes give (a truncated stream is fine with a sync flush).
      const prefix = zlib.gunzipSync(bytes.subarray(0, PREFIX_INPUT_BYTES), {
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
      });
      max = limit(new Uint8Array(prefix.buffer, prefix.byteOffset, prefix.byteLength));
    } catch (e) {
      if (e instanceof IoError) throw e;
      throw new IoError(`cannot read ${file}: it looks gzipped but does not decompress (${(e as Error).message})`);
    }
    try {
      // One byte more than allowed, so that "exactly the limit" and "more" can be told apart.
      bytes = zlib.gunzipSync(bytes, { maxOutputLength: max + 1 });
    } catch (e) {
      const tooLarge = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      throw new IoError(
        tooLarge
          ? `cannot read ${file}: it decompresses to more than the ${max} bytes its contents allow (a corrupt file or a gzip bomb)`
          : `cannot read ${file}: it looks gzipped but does not decompress (${(e as Error).message})`,
      );
    }
    if (bytes.length > max) {
      throw new IoError(
        `cannot read ${file}: it decompresses to more than the ${max} bytes its contents allow (a corrupt file or a gzip bomb)`,
      );
    }
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The first of `names` that exists in `dir` (with or without a .gz suffix), else an IoError listing what was tried. */
export function findFile(dir: string, names: readonly string[], what: string): string {
  const tried: string[] = [];
  for (const name of names) {
    for (const candidate of [name, `${name}.gz`]) {
      const p = `${dir.replace(/\/+$/, '')}/${candidate}`;
      tried.push(p);
      if (fs.existsSync(p)) return p;
    }
  }
  throw new IoError(`cannot find the ${what} in ${dir}: tried ${tried.join(', ')}`);
}
