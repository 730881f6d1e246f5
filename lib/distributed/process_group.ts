/**
 * The process group: every process of an `mpirun -np N node train.js` job calls init(), and
 * from then on rank() / worldSize() say who it is, and barrier(), allReduce() and broadcast()
 * exchange tensors (in place, blocking). One process group per job, MPI_COMM_WORLD.
 *
 * Failure behaviour: after init(), an uncaught exception or unhandled rejection in any rank
 * prints the error (with the rank) and calls MPI_Abort, so mpirun ends every rank at once
 * instead of leaving the others waiting in a collective; a rank that dies outright is noticed
 * by mpirun, which ends the job the same way.
 */
import * as os from 'node:os';
import { checkInt } from '../check';
import { DistributedError, ArgumentError, describe } from '../errors';
import { copy_ } from '../ops/elementwise';
import { getNumThreads, setNumThreads } from '../system';
import { Tensor } from '../tensor';
import { mpiEngine, type MpiEngine } from './engine';
import { launchInfo } from './launcher';

export interface InitOptions {
  /**
   * Native threads per process: 'auto' (default) divides this machine's cores among the
   * job's processes on it (FLEXCONV_NUM_THREADS, when set, wins); a number sets it.
   */
  threads?: 'auto' | number;
  /** End every rank when this one has an uncaught error (default true). */
  abortOnError?: boolean;
}

interface State {
  engine: MpiEngine;
  rank: number;
  size: number;
}

let state: State | null = null;

function fatal(where: string, error: unknown): void {
  const s = state;
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(
    `[rank ${s?.rank ?? '?'}] ${where}: ${message}\n[rank ${s?.rank ?? '?'}] ending every rank of the job (MPI_Abort)\n`,
  );
  s?.engine.abort(1);
  process.exit(1);
}

/**
 * The native threads init() gives this process, or null to keep the current count
 * (FLEXCONV_NUM_THREADS set, with threads 'auto').
 */
function plannedThreads(threads: unknown): number | null {
  if (typeof threads === 'number') return checkInt('distributed.init', 'threads', threads, 1);
  if (threads !== 'auto') {
    throw new ArgumentError(
      `distributed.init: expected threads to be 'auto' or a number but received ${describe(threads)}`,
    );
  }
  if (process.env.FLEXCONV_NUM_THREADS !== undefined) return null;
  return Math.max(1, Math.floor(os.cpus().length / Math.max(1, launchInfo().localSize)));
}

/**
 * Open MPI's collectives poll while they wait for the other ranks, on the engine's own thread;
 * when the job's compute threads already fill this machine's cores, that polling takes a core
 * from a compute thread for as long as a gradient bucket waits during backward (2 ranks x 1
 * thread on 2 cores, the distributed bench's step: median 38 ms polling, 35 ms yielding, one
 * rank x 2 threads 37 ms; four runs each on a noisy VM). So unless
 * the user chose, Open MPI is asked to yield the core while it waits (mpi_yield_when_idle, read
 * by MPI_Init from the environment; other MPI libraries ignore the variable).
 * @internal (exported for its test)
 */
export function yieldWhileWaitingWhenCoresAreFull(
  threads: number,
  env: NodeJS.ProcessEnv = process.env,
  cores: number = os.cpus().length,
): void {
  const variable = 'OMPI_MCA_mpi_yield_when_idle';
  if (env[variable] !== undefined) return;
  if (Math.max(1, launchInfo(env).localSize) * threads >= cores) env[variable] = '1';
}

/** Joins the job's process group (idempotent). Returns this process's rank and the world size. */
export function init(options: InitOptions = {}): { rank: number; worldSize: number } {
  if (options === null || typeof options !== 'object')
    throw new ArgumentError(`distributed.init: expected options to be an object but received ${describe(options)}`);
  if (state) return { rank: state.rank, worldSize: state.size };
  const threads = plannedThreads(options.threads ?? 'auto');
  const engine = mpiEngine();
  yieldWhileWaitingWhenCoresAreFull(threads ?? getNumThreads());
  let ids: { rank: number; size: number };
  try {
    ids = engine.init();
  } catch (e) {
    throw new DistributedError(
      `distributed.init: MPI did not start (${(e as Error).message}); run the job under mpirun / mpiexec / srun`,
    );
  }
  state = { engine, rank: ids.rank, size: ids.size };
  if (threads !== null) setNumThreads(threads);
  if (options.abortOnError ?? true) {
    process.on('uncaughtException', (e) => fatal('uncaught exception', e));
    process.on('unhandledRejection', (e) => fatal('unhandled rejection', e));
  }
  // MPI wants every rank to finalise; a normal exit does it here.
  process.on('exit', () => finalize());
  return { rank: state.rank, worldSize: state.size };
}

export function isInitialized(): boolean {
  return state !== null;
}

/** This process's rank (0 when not initialised: a single process is rank 0 of 1). */
export function rank(): number {
  return state?.rank ?? 0;
}

export function worldSize(): number {
  return state?.size ?? 1;
}

/** Rank 0 (or a single process): the one that logs and writes files. */
export function isMainProcess(): boolean {
  return rank() === 0;
}

function engineOrThrow(where: string): MpiEngine {
  if (!state)
    throw new DistributedError(`${where}: the process group is not initialised (call distributed.init() first)`);
  return state.engine;
}

/** Waits until every rank has called barrier(). */
export function barrier(): void {
  engineOrThrow('distributed.barrier').barrier();
}

function hostData(where: string, t: Tensor): Float32Array {
  if (!(t instanceof Tensor)) throw new ArgumentError(`${where}: expected a Tensor but received ${describe(t)}`);
  return t.device === 'cpu' ? t.data : Float32Array.from(t.toArray());
}

function writeBack(t: Tensor, host: Float32Array): void {
  if (t.device !== 'cpu') {
    copy_(t, Tensor.from(host, t.shape).to(t.device));
  }
}

/**
 * Combines `t` over every rank, in place: 'sum' (default), 'mean', 'max' or 'min'. CUDA tensors
 * go through host memory (NCCL is not wired in yet).
 */
export function allReduce(t: Tensor, op: 'sum' | 'mean' | 'max' | 'min' = 'sum'): Tensor {
  const where = 'distributed.allReduce';
  const engine = engineOrThrow(where);
  if (!['sum', 'mean', 'max', 'min'].includes(op))
    throw new ArgumentError(`${where}: expected op 'sum', 'mean', 'max' or 'min' but received ${describe(op)}`);
  const host = hostData(where, t);
  engine.allreduce(host, op === 'mean' ? 'sum' : op);
  if (op === 'mean') {
    const inv = 1 / state!.size;
    for (let i = 0; i < host.length; i++) host[i] *= inv;
  }
  writeBack(t, host);
  return t;
}

/** Copies rank `root`'s `t` into every rank's `t`, in place. */
export function broadcast(t: Tensor, root = 0): Tensor {
  const where = 'distributed.broadcast';
  const engine = engineOrThrow(where);
  if (!Number.isInteger(root) || root < 0 || root >= state!.size) {
    throw new ArgumentError(
      `${where}: expected root to be a rank in [0, ${state!.size}) but received ${describe(root)}`,
    );
  }
  const host = hostData(where, t);
  engine.broadcast(host, root);
  writeBack(t, host);
  return t;
}

/** The engine, for the gradient reducer (internal). */
export function engineForReducer(where: string): { engine: MpiEngine; rank: number; size: number } {
  const engine = engineOrThrow(where);
  return { engine, rank: state!.rank, size: state!.size };
}

/** Leaves the process group (MPI_Finalize); called at exit. */
export function finalize(): void {
  if (!state) return;
  const s = state;
  state = null;
  s.engine.finalize();
}
