/**
 * Distributed suite (`npm run bench -- distributed`): data-parallel training on this machine's
 * two cores, and the gradient all-reduce, each against its anchor in the same run.
 *
 * - Training step of the main job's ResNet-18 (width 16, 1x32x32, Adam, global batch 32):
 *   2 processes x 1 thread under mpirun (DistributedDataParallel, 16 images each) vs
 *   1 process x 2 threads (32 images). Goal (issue 20) >= 0.9x: communication nearly hidden.
 *   Runs alternate (3 rounds of each), step times pooled, medians.
 * - The bucketed all-reduce of ResNet-18's (width 64) 45 MB of gradients vs one bare
 *   MPI_Allreduce of the same bytes, 2 processes, interleaved. Goal >= 0.9x.
 *
 * Each process is a fresh `node dist/scripts/bench/distributed_worker.js` (under mpirun
 * --bind-to none, Open MPI's shared-memory transport). Needs mpirun and the MPI engine.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hasMpiEngine } from '../../lib/distributed';
import { BenchOptions, BenchRow, compareRow, summarize } from './harness';

const WORKER = path.join(__dirname, 'distributed_worker.js');

function mpirunPath(): string | null {
  return ['/usr/bin/mpirun', '/usr/local/bin/mpirun'].find((f) => fs.existsSync(f)) ?? null;
}

function runWorker(mpi: boolean, args: string[]): Record<string, unknown> {
  const mpirun = mpirunPath() as string;
  const cmd = mpi ? mpirun : process.execPath;
  const argv = mpi
    ? ['--allow-run-as-root', '--oversubscribe', '--bind-to', 'none', '-np', '2', process.execPath, WORKER, ...args]
    : [WORKER, ...args];
  const r = spawnSync(cmd, argv, {
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, OMPI_MCA_btl_vader_single_copy_mechanism: 'none' },
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line)
    throw new Error(`distributed bench: ${[cmd, ...argv].join(' ')} failed (status ${r.status}):\n${r.stderr}`);
  return JSON.parse(line.slice(7)) as Record<string, unknown>;
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  if (!mpirunPath() || !hasMpiEngine()) {
    throw new Error(
      'distributed bench: needs mpirun and the MPI engine (apt-get install openmpi-bin libopenmpi-dev, then npm run build)',
    );
  }
  const steps = opts.quick ? 2 : 8;
  const rounds = opts.quick ? 1 : 3;
  const batch = 32;
  const single: number[] = [];
  const multi: number[] = [];
  for (let r = 0; r < rounds; r++) {
    single.push(...(runWorker(false, ['train', String(steps), String(batch)]).stepMs as number[]));
    multi.push(...(runWorker(true, ['train', String(steps), String(batch)]).stepMs as number[]));
  }
  const ours = summarize(multi);
  const anchor = summarize(single);
  const rows: BenchRow[] = [
    compareRow(
      `train step ResNet-18 (width 16) batch ${batch}: 2 processes x 1 thread`,
      2,
      ours,
      '1 process x 2 threads',
      anchor,
      {
        'img/s': Math.round((batch / ours.median) * 1000),
        'anchor img/s': Math.round((batch / anchor.median) * 1000),
      },
    ),
  ];
  const ar = runWorker(true, ['allreduce', String(opts.quick ? 2 : 10)]);
  const oursAr = summarize(ar.oursMs as number[]);
  const bare = summarize(ar.bareMs as number[]);
  const mb = (ar.bytes as number) / 2 ** 20;
  rows.push(
    compareRow(
      `gradient all-reduce ResNet-18 (${mb.toFixed(1)} MB, ${ar.buckets} buckets), 2 processes`,
      1,
      oursAr,
      'bare MPI_Allreduce',
      bare,
      {
        'GB/s': Math.round(((ar.bytes as number) / oursAr.median / 1e6) * 100) / 100,
        'anchor GB/s': Math.round(((ar.bytes as number) / bare.median / 1e6) * 100) / 100,
      },
    ),
  );
  return rows;
}
