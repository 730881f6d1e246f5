/**
 * Reading dataset files: whole-file reads with errors that name the file, and transparent
 * gunzip (detected by the gzip magic bytes, not by the file name).
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { IoError } from '../errors';

/** The file's bytes, gunzipped if they start with the gzip magic. */
export function readMaybeGzipped(file: string): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'the file does not exist' : err.code === 'EISDIR' ? 'it is a directory' : err.message;
    throw new IoError(`cannot read ${file}: ${why}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (e) {
      throw new IoError(`cannot read ${file}: it looks gzipped but does not decompress (${(e as Error).message})`);
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
