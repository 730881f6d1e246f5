/**
 * What the launcher says about this process, from its environment: Open MPI's mpirun /
 * mpiexec (OMPI_COMM_WORLD_*), MPICH and Intel MPI's Hydra (PMI_*), and Slurm's srun
 * (SLURM_*). Used for defaults before MPI itself is asked (threads per process) and to tell
 * a launched job from a plain `node` run.
 */
import { ArgumentError, describe } from '../errors';

export interface LaunchInfo {
  /** Which launcher set the variables, or null when none did. */
  launcher: 'openmpi' | 'hydra' | 'slurm' | null;
  rank: number;
  worldSize: number;
  /** Processes of this job on this machine (threads are shared among them). */
  localSize: number;
}

function int(env: NodeJS.ProcessEnv, name: string): number | null {
  const v = env[name];
  if (v === undefined || !/^\d+$/.test(v)) return null;
  return Number(v);
}

export function launchInfo(env: NodeJS.ProcessEnv = process.env): LaunchInfo {
  if (env === null || typeof env !== 'object') {
    throw new ArgumentError(
      `launchInfo: expected env to be an environment object (like process.env) but received ${describe(env)}`,
    );
  }
  const ompiSize = int(env, 'OMPI_COMM_WORLD_SIZE');
  if (ompiSize !== null) {
    return {
      launcher: 'openmpi',
      rank: int(env, 'OMPI_COMM_WORLD_RANK') ?? 0,
      worldSize: ompiSize,
      localSize: int(env, 'OMPI_COMM_WORLD_LOCAL_SIZE') ?? 1,
    };
  }
  const pmiSize = int(env, 'PMI_SIZE');
  if (pmiSize !== null) {
    return {
      launcher: 'hydra',
      rank: int(env, 'PMI_RANK') ?? 0,
      worldSize: pmiSize,
      localSize: int(env, 'MPI_LOCALNRANKS') ?? 1,
    };
  }
  const slurmSize = int(env, 'SLURM_NTASKS');
  if (slurmSize !== null && int(env, 'SLURM_PROCID') !== null) {
    return {
      launcher: 'slurm',
      rank: int(env, 'SLURM_PROCID') ?? 0,
      worldSize: slurmSize,
      localSize: int(env, 'SLURM_NTASKS_PER_NODE') ?? 1,
    };
  }
  return { launcher: null, rank: 0, worldSize: 1, localSize: 1 };
}
