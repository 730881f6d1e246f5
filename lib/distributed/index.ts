/**
 * Training across processes and machines (`import { distributed } from 'flexconv'`), on MPI:
 *
 *   mpirun -np 4 --hostfile hosts node train.js     # each process:
 *   distributed.init();
 *   const model = new distributed.DistributedDataParallel(net);
 *   const loader = new data.DataLoader(train, { batchSize: 32, shuffle: true, seed: 1, distributed: true });
 *   await train.fit(model, optimizer, loader, { epochs: 10, checkpointDir: 'runs/a' });   // logs and saves on rank 0
 */
export {
  init,
  isInitialized,
  rank,
  worldSize,
  isMainProcess,
  barrier,
  allReduce,
  broadcast,
  finalize,
  type InitOptions,
} from './process_group';
export { DistributedDataParallel, type DistributedDataParallelOptions } from './ddp';
export { SyncBatchNorm } from './sync_batch_norm';
export { launchInfo, type LaunchInfo } from './launcher';
export { hasMpiEngine } from './engine';
