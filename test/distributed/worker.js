/**
 * One rank of the distributed tests (test/distributed.test.ts runs it under `mpirun -np 2`),
 * against the compiled library in dist/. The scenario is argv[2]; results are printed as
 * "RESULT <json>" lines, failures as exceptions (which end the job, see process_group.ts).
 */
const fs = require('node:fs');
const path = require('node:path');
const { Tensor, nn, ops, optim, data, train, distributed, manualSeed } = require('../../dist/lib');
const { mpiEngine } = require('../../dist/lib/distributed/engine');

function result(value) {
  process.stdout.write(`RESULT ${JSON.stringify({ rank: distributed.rank(), ...value })}\n`);
}

/** A small network without batch norm: conv, relu, pool, linear. */
/** The same with batch normalisation after each conv. */
function bnNet() {
  return new nn.Sequential(
    new nn.Conv2d(1, 6, { kernelSize: 3, padding: 1 }),
    new nn.BatchNorm2d(6),
    new nn.ReLU(),
    new nn.MaxPool2d({ kernelSize: 2, stride: 2 }),
    new nn.Conv2d(6, 8, { kernelSize: 3, padding: 1 }),
    new nn.BatchNorm2d(8, { momentum: null }),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(8, 4),
  );
}

function smallNet() {
  return new nn.Sequential(
    new nn.Conv2d(1, 6, { kernelSize: 3, padding: 1 }),
    new nn.ReLU(),
    new nn.MaxPool2d({ kernelSize: 2, stride: 2 }),
    new nn.Conv2d(6, 8, { kernelSize: 3, padding: 1 }),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(8, 4),
  );
}

function relDiff(a, b) {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return worst / Math.max(scale, 1e-30);
}

function equivalence() {
  const { rank, worldSize } = distributed.init();
  // Collectives on user tensors.
  const t = Tensor.from([rank + 1, 10 * (rank + 1)], [2]);
  distributed.allReduce(t, 'sum');
  const m = Tensor.from([rank + 1], [1]);
  distributed.allReduce(m, 'mean');
  const b = Tensor.from([rank === 0 ? 42 : -1], [1]);
  distributed.broadcast(b, 0);
  distributed.barrier();
  // DDP's bucket path: a sum scaled on MPI's thread (the mean), and a scale that is no number refused.
  const engine = mpiEngine();
  const bucket = Float32Array.from([rank + 1, 2 * (rank + 1)]);
  engine.wait(engine.allreduceStart(bucket, 1 / worldSize));
  let badScale = null;
  try {
    engine.allreduceStart(new Float32Array(2), NaN);
  } catch (e) {
    badScale = e.message;
  }
  result({
    scenario: 'collectives',
    sum: Array.from(t.data),
    mean: m.data[0],
    broadcast: b.data[0],
    worldSize,
    scaledMean: Array.from(bucket),
    badScale,
  });

  // DDP on half of each global batch vs one process on the whole batch, several SGD steps.
  const steps = 4;
  const global = 8;
  const per = global / worldSize;
  manualSeed(123);
  const inputs = Array.from({ length: steps }, () => Tensor.randn([global, 1, 8, 8]));
  const targets = Array.from({ length: steps }, (_, s) =>
    Tensor.from(
      Array.from({ length: global }, (_, i) => (i + s) % 4),
      [global],
    ),
  );
  // Rank 1 starts from other weights: the wrapper must copy rank 0's.
  manualSeed(rank === 0 ? 7 : 99);
  const net = smallNet();
  const ddp = new distributed.DistributedDataParallel(net, { bucketCapMb: 0.0005 });
  const opt = new optim.SGD(ddp.parameters(), { lr: 0.1, momentum: 0.9 });
  manualSeed(7);
  const ref = smallNet();
  const refOpt = new optim.SGD(ref.parameters(), { lr: 0.1, momentum: 0.9 });
  for (let s = 0; s < steps; s++) {
    const x = ops.slice(inputs[s], 0, rank * per, (rank + 1) * per);
    const y = ops.slice(targets[s], 0, rank * per, (rank + 1) * per);
    opt.zeroGrad();
    ops.crossEntropy(ddp.forward(x), y).backward();
    opt.step();
    refOpt.zeroGrad();
    ops.crossEntropy(ref.forward(inputs[s]), targets[s]).backward();
    refOpt.step();
  }
  const a = ddp.module.parameters();
  const r = ref.parameters();
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, relDiff(a[i].data, r[i].data));
  // After a synchronised backward every rank holds the same gradients; under noSync each
  // keeps its own (the ranks' halves differ, so their gradients do too).
  const gradsDiffer = (sync) => {
    const half = () => [
      ops.slice(inputs[0], 0, rank * per, (rank + 1) * per),
      ops.slice(targets[0], 0, rank * per, (rank + 1) * per),
    ];
    const pass = () => {
      opt.zeroGrad();
      const [x, y] = half();
      ops.crossEntropy(ddp.forward(x), y).backward();
    };
    if (sync) pass();
    else ddp.noSync(pass);
    const g = a[0].grad.data;
    const max = Tensor.from(Float32Array.from(g), a[0].shape);
    distributed.allReduce(max, 'max');
    const flag = Tensor.from([relDiff(g, max.data) > 0 ? 1 : 0], [1]);
    distributed.allReduce(flag, 'max');
    return flag.data[0] === 1;
  };
  const localDiffers = gradsDiffer(false);
  const syncedDiffers = gradsDiffer(true);
  result({ scenario: 'ddp', worst, buckets: ddp.buckets.length, localDiffers, syncedDiffers });

  // SyncBatchNorm: DDP with global batch statistics equals one process with BatchNorm2d on
  // the whole batch (parameters and running statistics).
  manualSeed(rank === 0 ? 7 : 99);
  const bnDdp = new distributed.DistributedDataParallel(distributed.SyncBatchNorm.convert(bnNet()));
  const bnOpt = new optim.SGD(bnDdp.parameters(), { lr: 0.1, momentum: 0.9 });
  manualSeed(7);
  const bnRef = bnNet();
  const bnRefOpt = new optim.SGD(bnRef.parameters(), { lr: 0.1, momentum: 0.9 });
  for (let s = 0; s < steps; s++) {
    bnOpt.zeroGrad();
    ops
      .crossEntropy(
        bnDdp.forward(ops.slice(inputs[s], 0, rank * per, (rank + 1) * per)),
        ops.slice(targets[s], 0, rank * per, (rank + 1) * per),
      )
      .backward();
    bnOpt.step();
    bnRefOpt.zeroGrad();
    ops.crossEntropy(bnRef.forward(inputs[s]), targets[s]).backward();
    bnRefOpt.step();
  }
  const ours = bnDdp.module.stateDict();
  const theirs = bnRef.stateDict();
  let bnWorst = 0;
  for (const key of Object.keys(theirs)) bnWorst = Math.max(bnWorst, relDiff(ours[key].data, theirs[key].data));
  // Without synchronisation (plain BatchNorm2d per rank) the result differs: the test can fail.
  manualSeed(7);
  const localBn = new distributed.DistributedDataParallel(bnNet());
  const localOpt = new optim.SGD(localBn.parameters(), { lr: 0.1, momentum: 0.9 });
  for (let s = 0; s < steps; s++) {
    localOpt.zeroGrad();
    ops
      .crossEntropy(
        localBn.forward(ops.slice(inputs[s], 0, rank * per, (rank + 1) * per)),
        ops.slice(targets[s], 0, rank * per, (rank + 1) * per),
      )
      .backward();
    localOpt.step();
  }
  const localSd = localBn.module.stateDict();
  let localWorst = 0;
  for (const key of Object.keys(theirs))
    localWorst = Math.max(localWorst, relDiff(localSd[key].data, theirs[key].data));
  result({ scenario: 'syncbn', worst: bnWorst, keys: Object.keys(theirs).length, unsyncedWorst: localWorst });

  // DataLoader shards: disjoint, same size, together the whole (truncated) order.
  const ds = data.syntheticShapes({ length: 21, seed: 3 });
  const loader = new data.DataLoader(ds, { batchSize: 4, shuffle: true, seed: 5, distributed: true });
  const seen = new Float32Array(21);
  for (const batch of loader.batches(2)) for (const i of batch.indices) seen[i] += 1;
  const counts = Tensor.from(seen, [21]);
  distributed.allReduce(counts, 'sum');
  result({
    scenario: 'shards',
    length: loader.length,
    samples: loader.shardLength,
    maxCount: Math.max(...counts.data),
    total: counts.data.reduce((x, y) => x + y, 0),
  });
}

async function fitResume() {
  distributed.init();
  const dir = process.argv[3];
  const ds = data.syntheticShapes({ length: 64, seed: 1 });
  const build = () => {
    manualSeed(11);
    return new distributed.DistributedDataParallel(smallNetFor(10));
  };
  const lines = [];
  let model = build();
  let opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const loader = new data.DataLoader(ds, { batchSize: 8, shuffle: true, seed: 2, distributed: true });
  await train.fit(model, opt, loader, { epochs: 1, checkpointDir: dir, progress: 'lines', log: (l) => lines.push(l) });
  distributed.barrier(); // rank 0 has written the checkpoint
  model = build();
  opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const { history, startEpoch } = await train.fit(model, opt, loader, {
    epochs: 2,
    checkpointDir: dir,
    resume: true,
    progress: 'lines',
    log: (l) => lines.push(l),
  });
  const w = model.module.parameters()[0];
  const max = Tensor.from(Float32Array.from(w.data), w.shape);
  distributed.allReduce(max, 'max');
  result({
    scenario: 'fit',
    startEpoch,
    epochs: history.length,
    logLines: lines.length,
    sameWeights: relDiff(w.data, max.data) === 0,
    checkpoint: fs.existsSync(path.join(dir, 'last.safetensors')),
  });
}

function smallNetFor(classes) {
  const net = smallNet();
  // The same body; a head with `classes` outputs.
  return new nn.Sequential(...Array.from({ length: 7 }, (_, i) => net.get(i)), new nn.Linear(8, classes));
}

function rankDies() {
  const { rank } = distributed.init();
  if (rank === 1) {
    setTimeout(() => {
      throw new Error('rank 1 failed on purpose');
    }, 200);
    return;
  }
  // Rank 0 waits in a collective that rank 1 never joins: only the abort ends it.
  distributed.barrier();
  result({ scenario: 'dies', reachedEnd: true });
}

function rankKilled() {
  const { rank } = distributed.init();
  if (rank === 1) setTimeout(() => process.kill(process.pid, 'SIGKILL'), 200);
  else distributed.barrier(); // never completes: rank 1 dies first
  result({ scenario: 'killed', reachedEnd: rank === 0 });
}

function layoutMismatch() {
  const { rank } = distributed.init({ abortOnError: false });
  const net = rank === 0 ? smallNet() : smallNetFor(5);
  try {
    new distributed.DistributedDataParallel(net);
    result({ scenario: 'mismatch', error: null });
  } catch (e) {
    result({ scenario: 'mismatch', error: e.name, message: e.message });
  }
}

const scenario = process.argv[2];
({ equivalence, fit: fitResume, dies: rankDies, killed: rankKilled, mismatch: layoutMismatch })[scenario]();
