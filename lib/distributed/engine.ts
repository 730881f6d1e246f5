/**
 * The MPI engine: build/Release/flexconv_mpi.node, a separate addon built when MPI is found
 * (FLEXCONV_MPI=auto|on|off), next to the main addon, loaded on first use. Without it
 * everything but lib/distributed works, and distributed.init() says what to install.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DistributedError } from '../errors';
import { candidatePaths, packageRoot } from '../native';

export interface MpiEngine {
  init(): { rank: number; size: number };
  allreduce(buffer: Float32Array, op: 'sum' | 'max' | 'min'): void;
  /** A sum in place, then (scale given) every element times scale; wait(id) for it. */
  allreduceStart(buffer: Float32Array, scale?: number): number;
  wait(id: number): void;
  broadcast(buffer: Float32Array, root: number): void;
  barrier(): void;
  abort(code: number): void;
  finalize(): void;
  version(): string;
}

let engine: MpiEngine | null = null;

/** The engine's file next to whichever main addon this process loads. */
export function enginePath(): string {
  const main = candidatePaths(packageRoot()).find((f) => fs.existsSync(f)) ?? candidatePaths(packageRoot())[0];
  return path.join(path.dirname(main), 'flexconv_mpi.node');
}

export function mpiEngine(): MpiEngine {
  if (engine) return engine;
  const file = enginePath();
  if (!fs.existsSync(file)) {
    throw new DistributedError(
      `distributed: this build of flexconv has no MPI engine (${file} is missing). Install MPI and rebuild: ` +
        'apt-get install openmpi-bin libopenmpi-dev && FLEXCONV_MPI=on npm run build',
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path found at run time
    engine = require(file) as MpiEngine;
  } catch (e) {
    throw new DistributedError(
      `distributed: the MPI engine ${file} failed to load (${(e as Error).message}); is the MPI library it was built against still installed?`,
    );
  }
  return engine;
}

/** Whether the MPI engine was built (it may still fail to start without a launcher). */
export function hasMpiEngine(): boolean {
  return fs.existsSync(enginePath());
}
