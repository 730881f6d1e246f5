/**
 * One process of the distributed suite (scripts/bench/distributed.ts starts it, alone or under
 * mpirun). Prints one "RESULT <json>" line from rank 0.
 *
 *   train <steps> <globalBatch>   training steps of the main job's ResNet-18 (width 16, 1x32x32):
 *                                 alone with 2 threads, or under mpirun data-parallel with each
 *                                 rank one thread and globalBatch / ranks images; step times in ms
 *   allreduce <iters>             ResNet-18's (width 64, 11.2M parameters, 45 MB) gradients summed
 *                                 by DistributedDataParallel's buckets vs one bare MPI_Allreduce
 *                                 of the same bytes, interleaved; times in ms
 */
import { distributed, manualSeed, models, ops, optim, setNumThreads, Tensor, tidy } from '../../lib';
import { mpiEngine } from '../../lib/distributed/engine';

function emit(value: object): void {
  if (distributed.rank() === 0) process.stdout.write(`RESULT ${JSON.stringify(value)}\n`);
}

function train(steps: number, globalBatch: number): void {
  const underMpi = distributed.launchInfo().launcher !== null;
  const { rank, worldSize } = underMpi ? distributed.init({ threads: 1 }) : { rank: 0, worldSize: 1 };
  if (!underMpi) setNumThreads(2);
  manualSeed(1);
  const net = models.resnet18({ numClasses: 10, inChannels: 1, stem: 'cifar', width: 16, conv: 'standard' });
  const model = underMpi ? new distributed.DistributedDataParallel(net) : net;
  const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const per = globalBatch / worldSize;
  const x = Tensor.randn([per, 1, 32, 32]);
  const y = Tensor.from(
    Array.from({ length: per }, (_, i) => (i + rank) % 10),
    [per],
  );
  const times: number[] = [];
  for (let s = 0; s < steps + 2; s++) {
    const t0 = process.hrtime.bigint();
    tidy(() => {
      opt.zeroGrad();
      ops.crossEntropy(model.forward(x) as Tensor, y).backward();
      opt.step();
    });
    if (s >= 2) times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  emit({ mode: 'train', processes: worldSize, stepMs: times });
}

function allreduce(iters: number): void {
  distributed.init({ threads: 1 });
  manualSeed(2);
  const net = models.resnet18({ numClasses: 10, inChannels: 3, stem: 'cifar', width: 64 });
  const ddp = new distributed.DistributedDataParallel(net);
  const params = net.parameters();
  const floats = params.reduce((n, p) => n + p.numel, 0);
  for (const p of params) p.grad = Tensor.randn(p.shape);
  // The reducer's own path, as backward drives it: every gradient final (last layers first),
  // then the end of the pass (internal hooks, reached the way autograd reaches them).
  const hooks = ddp as unknown as { active: boolean; onLeafReady(p: Tensor): void; onBackwardEnd(): void };
  const bucketed = (): void => {
    hooks.active = true;
    for (const p of [...params].reverse()) hooks.onLeafReady(p);
    hooks.onBackwardEnd();
  };
  const flat = new Float32Array(floats);
  const engine = mpiEngine();
  const bare = (): void => engine.allreduce(flat, 'sum');
  const ours: number[] = [];
  const anchor: number[] = [];
  for (let i = 0; i < iters + 2; i++) {
    distributed.barrier();
    let t0 = process.hrtime.bigint();
    bucketed();
    const a = Number(process.hrtime.bigint() - t0) / 1e6;
    distributed.barrier();
    t0 = process.hrtime.bigint();
    bare();
    const b = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= 2) {
      ours.push(a);
      anchor.push(b);
    }
  }
  emit({
    mode: 'allreduce',
    bytes: floats * 4,
    buckets: (ddp as unknown as { buckets: unknown[] }).buckets.length,
    oursMs: ours,
    bareMs: anchor,
  });
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'train') train(Number(a), Number(b));
else if (mode === 'allreduce') allreduce(Number(a));
else throw new Error(`distributed_worker: unknown mode ${mode}`);
