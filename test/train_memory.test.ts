/**
 * Memory over a long training run (issue 3, item 7): 1000 steps of a small CNN, each wrapped
 * in tidy(). Tensor storage and kernel scratch must return exactly to their level before the
 * loop after every step (nothing the forward pass, autograd's saved tensors, the gradients or
 * the optimizer creates may leak), and the process RSS must stay bounded. A second run without
 * tidy() shows that the garbage collector alone reclaims everything too (the graph is freed).
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { Generator, manualSeed, memoryStats, Tensor, tidy } from '../lib';
import * as ops from '../lib/ops';
import { SGD } from '../lib/optim';
import { SIZE, smallCnn, stripes } from './stripes';

// A real gc() (jest does not expose one) so RSS is compared without garbage in it.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

// V8 frees ArrayBuffer memory on a background sweeper after gc() returns, so on a busy machine
// (CI runs test files in parallel) one reading can still count garbage. Settled = the lowest
// of a few readings, each after a full GC and a pause for the sweeper.
async function settledMemory(): Promise<{ rss: number; arrayBuffers: number }> {
  let best = { rss: Infinity, arrayBuffers: Infinity };
  for (let round = 0; round < 5; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const m = process.memoryUsage();
    best = { rss: Math.min(best.rss, m.rss), arrayBuffers: Math.min(best.arrayBuffers, m.arrayBuffers) };
  }
  return best;
}

test('1000 tidy() training steps: tensor memory flat, RSS bounded', async () => {
  manualSeed(5);
  const g = new Generator(9);
  const { x, labels } = stripes(256, g);
  const model = smallCnn();
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const batch = 16;
  const per = SIZE * SIZE;

  const step = (k: number): number =>
    tidy(() => {
      const start = (k * batch) % (labels.length - batch);
      const xb = Tensor.from(x.data.subarray(start * per, (start + batch) * per), [batch, 1, SIZE, SIZE]);
      const yb = Tensor.from(labels.slice(start, start + batch));
      const loss = ops.crossEntropy(model.forward(xb), yb);
      loss.backward();
      opt.step();
      opt.zeroGrad();
      return loss.item();
    });

  // Warm-up: the optimizer creates its momentum buffers on the first step.
  for (let k = 0; k < 10; k++) step(k);
  // After the collection settledMemory forces: tensorBytes counts live storage, so garbage the
  // warm-up dropped leaves the count there, not in the middle of the measured steps.
  const rssStart = (await settledMemory()).rss;
  const base = memoryStats();
  let rssAt100 = 0;
  let scratchAt100 = 0;
  let worstTensorDrift = 0;
  let lastLoss = NaN;
  for (let k = 0; k < 1000; k++) {
    lastLoss = step(k);
    worstTensorDrift = Math.max(worstTensorDrift, Math.abs(memoryStats().tensorBytes - base.tensorBytes));
    if (k === 99) {
      rssAt100 = (await settledMemory()).rss;
      scratchAt100 = memoryStats().allocated;
    }
  }
  const rssEnd = (await settledMemory()).rss;
  // Every tensor a step creates is gone when it ends: exactly the same bytes after each step.
  expect({ worstTensorDrift }).toEqual({ worstTensorDrift: 0 });
  // Kernel scratch is freed or reused; a thread that first joins a kernel late (dynamic task
  // hand-out on a busy machine) may add its buffer once, but nothing grows step after step.
  const MB = 1024 * 1024;
  expect((memoryStats().allocated - scratchAt100) / MB).toBeLessThan(1);
  expect(memoryStats().allocated - base.allocated).toBeLessThan(4 * MB);
  expect(Number.isFinite(lastLoss)).toBe(true);
  // Between step 100 and step 1000 nothing should accumulate: allow allocator and heap-sizing
  // noise only (a leaked step's activations would add about 1 MB per step, ~900 MB here).
  expect((rssEnd - rssAt100) / MB).toBeLessThan(64);
  expect((rssEnd - rssStart) / MB).toBeLessThan(128);
});

test('without tidy(), garbage collection reclaims every step: the autograd graph keeps nothing alive', async () => {
  manualSeed(6);
  const { x, labels } = stripes(256, new Generator(10));
  const model = smallCnn();
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const batch = 16;
  const per = SIZE * SIZE;
  let at100 = await settledMemory();
  for (let k = 0; k < 400; k++) {
    const start = (k * batch) % (labels.length - batch);
    const xb = Tensor.from(x.data.subarray(start * per, (start + batch) * per), [batch, 1, SIZE, SIZE]);
    const yb = Tensor.from(labels.slice(start, start + batch));
    const loss = ops.crossEntropy(model.forward(xb), yb);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    if (k === 99) at100 = await settledMemory();
  }
  const end = await settledMemory();
  const MB = 1024 * 1024;
  // Tensor storage lives in ArrayBuffers: after a GC, what 300 more steps left behind is noise
  // (a step whose graph stayed alive would keep about 1 MB, ~300 MB here).
  expect((end.arrayBuffers - at100.arrayBuffers) / MB).toBeLessThan(16);
  expect((end.rss - at100.rss) / MB).toBeLessThan(64);
});
