/**
 * Data-parallel training under a real `mpirun -np 2` (Open MPI), each scenario a job of
 * test/distributed/worker.js against the compiled library (dist/): collectives, DDP against
 * one process training on the whole batch (without batch norm, and with SyncBatchNorm), data
 * sharding, fit with checkpoints and resume, and failures (a rank that throws or is killed ends
 * the job; ranks that built different models get a DistributedError). Skips visibly without mpirun or the MPI engine.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataLoader, syntheticShapes } from '../lib/data';
import { hasMpiEngine, launchInfo } from '../lib/distributed';
import { yieldWhileWaitingWhenCoresAreFull } from '../lib/distributed/process_group';
import { ArgumentError } from '../lib/errors';

const root = path.resolve(__dirname, '..');
const mpirun = ['/usr/bin/mpirun', '/usr/local/bin/mpirun'].find((f) => fs.existsSync(f)) ?? null;
const ready = mpirun !== null && hasMpiEngine();
if (!ready)
  console.log(
    `distributed.test.ts: ${mpirun ? 'the MPI engine was not built (FLEXCONV_MPI)' : 'mpirun not installed (apt-get install openmpi-bin libopenmpi-dev)'}, distributed tests skipped`,
  );
const describeMpi = ready ? describe : describe.skip;

interface Job {
  status: number | null;
  stderr: string;
  results: Record<string, unknown>[];
  seconds: number;
}

function job(scenario: string, ...args: string[]): Job {
  const started = Date.now();
  const r = spawnSync(
    mpirun as string,
    [
      '--allow-run-as-root',
      '--oversubscribe',
      '--bind-to',
      'none',
      '-np',
      '2',
      'node',
      path.join(root, 'test/distributed/worker.js'),
      scenario,
      ...args,
    ],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 90_000,
      // Containers often forbid the cross-memory attach Open MPI's shared-memory transport prefers.
      env: { ...process.env, OMPI_MCA_btl_vader_single_copy_mechanism: 'none' },
    },
  );
  const results = (r.stdout ?? '')
    .split('\n')
    .filter((l) => l.startsWith('RESULT '))
    .map((l) => JSON.parse(l.slice(7)) as Record<string, unknown>);
  return { status: r.status, stderr: r.stderr ?? '', results, seconds: (Date.now() - started) / 1000 };
}

function byRank(results: Record<string, unknown>[], scenario: string): Record<string, unknown>[] {
  return results.filter((r) => r.scenario === scenario).sort((a, b) => (a.rank as number) - (b.rank as number));
}

describeMpi('distributed training under mpirun -np 2', () => {
  beforeAll(() => {
    // The workers run dist/: refuse a stale build rather than test old code.
    for (const f of [
      'distributed/ddp',
      'distributed/process_group',
      'distributed/sync_batch_norm',
      'data/loader',
      'autograd',
      'train/trainer',
    ]) {
      const src = fs.statSync(path.join(root, 'lib', `${f}.ts`)).mtimeMs;
      const out = path.join(root, 'dist/lib', `${f}.js`);
      if (!fs.existsSync(out) || fs.statSync(out).mtimeMs < src)
        throw new Error(`dist/lib/${f}.js is older than lib/${f}.ts: run npm run build:ts`);
    }
  });

  test('collectives, DDP (and SyncBatchNorm) equal to one process on the whole batch, disjoint shards', () => {
    const r = job('equivalence');
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    for (const c of byRank(r.results, 'collectives')) {
      expect(c).toMatchObject({ sum: [3, 30], mean: 1.5, broadcast: 42, worldSize: 2, scaledMean: [1.5, 3] });
      expect(c.badScale).toMatch(/allreduceStart: expected scale to be a finite number/);
    }
    const ddp = byRank(r.results, 'ddp');
    expect(ddp).toHaveLength(2);
    for (const d of ddp) {
      // Parameters after 4 SGD steps (momentum) vs one process on the concatenated batch.
      expect(d.worst).toBeLessThan(1e-5);
      expect(d.buckets).toBeGreaterThan(1); // several buckets, started as they became ready
      expect(d.localDiffers).toBe(true); // noSync keeps gradients local
      expect(d.syncedDiffers).toBe(false); // a synchronised backward leaves every rank the same
    }
    const syncbn = byRank(r.results, 'syncbn');
    expect(syncbn).toHaveLength(2);
    for (const b of syncbn) {
      // SyncBatchNorm over the ranks = BatchNorm2d over the whole batch (weights and running stats) ...
      expect(b.worst).toBeLessThan(1e-5);
      expect(b.keys).toBe(16);
      // ... which per-rank statistics are not.
      expect(b.unsyncedWorst).toBeGreaterThan(1e-3);
    }
    for (const s of byRank(r.results, 'shards')) {
      // 21 samples over 2 ranks: 10 each, none twice, 20 in all (one left out for equal shards).
      expect(s).toMatchObject({ samples: 10, length: 3, maxCount: 1, total: 20 });
    }
  });

  test('fit logs and checkpoints on rank 0 only, and every rank resumes from the checkpoint', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexconv-ddp-'));
    try {
      const r = job('fit', dir);
      expect(r.status).toBe(0);
      const [zero, one] = byRank(r.results, 'fit');
      expect(zero).toMatchObject({ startEpoch: 1, epochs: 2, sameWeights: true, checkpoint: true });
      expect(one).toMatchObject({ startEpoch: 1, epochs: 2, sameWeights: true });
      expect(zero.logLines).toBeGreaterThan(0);
      expect(one.logLines).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a rank that throws ends the whole job with its error, in bounded time', () => {
    const r = job('dies');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/\[rank 1\] uncaught exception: Error: rank 1 failed on purpose/);
    expect(r.results.filter((x) => x.reachedEnd)).toEqual([]); // rank 0 never left its barrier normally
    expect(r.seconds).toBeLessThan(60);
  });

  test('a rank killed mid-run ends the whole job', () => {
    const r = job('killed');
    expect(r.status).not.toBe(0);
    expect(r.results.filter((x) => x.rank === 0)).toEqual([]);
    expect(r.seconds).toBeLessThan(60);
  });

  test('ranks that built different models get a DistributedError, not a wrong sum', () => {
    const r = job('mismatch');
    const rs = byRank(r.results, 'mismatch');
    expect(rs).toHaveLength(2);
    for (const x of rs) {
      expect(x.error).toBe('DistributedError');
      expect(x.message).toMatch(/the ranks built different models/);
    }
  });
});

describe('launcher environment', () => {
  test("Open MPI is asked to yield while it waits when the ranks' threads fill the cores, unless the user chose", () => {
    const local2 = (): NodeJS.ProcessEnv => ({ OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_LOCAL_SIZE: '2' });
    const full = local2();
    yieldWhileWaitingWhenCoresAreFull(1, full, 2); // 2 ranks x 1 thread on 2 cores
    expect(full.OMPI_MCA_mpi_yield_when_idle).toBe('1');
    const spare = local2();
    yieldWhileWaitingWhenCoresAreFull(1, spare, 4); // cores to spare: polling costs no compute
    expect(spare.OMPI_MCA_mpi_yield_when_idle).toBeUndefined();
    const chosen = { ...local2(), OMPI_MCA_mpi_yield_when_idle: '0' };
    yieldWhileWaitingWhenCoresAreFull(8, chosen, 2);
    expect(chosen.OMPI_MCA_mpi_yield_when_idle).toBe('0');
  });

  test('Open MPI, Hydra and Slurm variables give rank, size and local size; none gives a single process', () => {
    expect(
      launchInfo({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '8', OMPI_COMM_WORLD_LOCAL_SIZE: '4' }),
    ).toEqual({ launcher: 'openmpi', rank: 3, worldSize: 8, localSize: 4 });
    expect(launchInfo({ PMI_RANK: '1', PMI_SIZE: '2' })).toEqual({
      launcher: 'hydra',
      rank: 1,
      worldSize: 2,
      localSize: 1,
    });
    expect(launchInfo({ SLURM_PROCID: '5', SLURM_NTASKS: '6', SLURM_NTASKS_PER_NODE: '3' })).toEqual({
      launcher: 'slurm',
      rank: 5,
      worldSize: 6,
      localSize: 3,
    });
    expect(launchInfo({})).toEqual({ launcher: null, rank: 0, worldSize: 1, localSize: 1 });
  });
});

describe('DataLoader shards', () => {
  test('rank r of W takes positions r, r + W, ... of the same seeded order; bad shards are ArgumentErrors', () => {
    const ds = syntheticShapes({ length: 23, seed: 2 });
    const whole = new DataLoader(ds, { batchSize: 100, shuffle: true, seed: 4 });
    const order = Array.from([...whole.batches(3)][0].indices);
    const shards = [0, 1, 2].map(
      (rank) => new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 4, distributed: { rank, worldSize: 3 } }),
    );
    shards.forEach((loader, rank) => {
      expect(loader.shardLength).toBe(7);
      expect(loader.length).toBe(3);
      const seen = [...loader.batches(3)].flatMap((b) => Array.from(b.indices));
      expect(seen).toEqual(Array.from({ length: 7 }, (_, k) => order[rank + 3 * k]));
    });
    expect(() => new DataLoader(ds, { distributed: { rank: 3, worldSize: 3 } })).toThrow(
      /distributed.rank in \[0, 3\)/,
    );
    expect(() => new DataLoader(ds, { distributed: 'yes' as never })).toThrow(ArgumentError);
    expect(() => new DataLoader(ds, { distributed: true })).toThrow(/distributed.init\(\) first/);
  });
});
