/**
 * Atomic file writes, for everything a user keeps (checkpoints, weights, exported models,
 * results): a crash or a full disk mid-write leaves the previous file as it was.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IoError } from '../errors';

/** `.<name>.<pid>.<random>.tmp`: the temporary files writeFileAtomic makes next to `name`. */
function tempPattern(name: string): RegExp {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${escaped}\\.(\\d+)\\.[a-z0-9]+\\.tmp$`);
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by someone else
  }
}

/**
 * Removes temporary files that earlier writes of `file` left behind when their process was
 * killed mid-write (a preempted or OOM-killed training job): full-size copies nobody will ever
 * rename. Files of processes still running are left alone. Returns how many were removed.
 */
export function removeStaleTemporaries(file: string): number {
  const dir = path.dirname(path.resolve(file));
  const pattern = tempPattern(path.basename(file));
  let removed = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true });
      removed++;
    } catch {
      /* another process cleaned it first, or no permission: not ours to insist */
    }
  }
  return removed;
}

/**
 * Writes `bytes` to `file` atomically: temporary file in the same directory, fsync, rename,
 * fsync of the directory. On any failure the temporary file is removed and `file` is untouched.
 * Temporaries of earlier writes of `file` whose process died are removed first.
 */
export function writeFileAtomic(file: string, bytes: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  removeStaleTemporaries(file);
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
