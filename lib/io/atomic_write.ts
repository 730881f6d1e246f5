/**
 * Atomic file writes, for everything a user keeps (checkpoints, weights, exported models,
 * results): a crash or a full disk mid-write leaves the previous file as it was.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IoError } from '../errors';

/**
 * Writes `bytes` to `file` atomically: temporary file in the same directory, fsync, rename,
 * fsync of the directory. On any failure the temporary file is removed and `file` is untouched.
 */
export function writeFileAtomic(file: string, bytes: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    let written = 0;
    while (written < data.length) written += fs.writeSync(fd, data, written, data.length - written);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    fs.rmSync(tmp, { force: true });
    throw new IoError(`cannot write ${file}: ${(e as Error).message}`);
  }
  // Make the rename itself durable; not every platform lets a directory be fsynced.
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* best effort */
  }
}
