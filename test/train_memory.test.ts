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

test('1000 tidy() training steps: tensor memory flat, RSS bounded', () => {
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
  const base = memoryStats();
  gc();
  const rssStart = process.memoryUsage().rss;
  let rssAt100 = 0;
  let worstDrift = 0;
  let lastLoss = NaN;
  for (let k = 0; k < 1000; k++) {
    lastLoss = step(k);
    const now = memoryStats();
    worstDrift = Math.max(worstDrift, Math.abs(now.tensorBytes - base.tensorBytes), Math.abs(now.allocated - base.allocated));
    if (k === 99) {
      gc();
      rssAt100 = process.memoryUsage().rss;
    }
  }
  gc();
  const rssEnd = process.memoryUsage().rss;
  expect(worstDrift).toBe(0);
  expect(Number.isFinite(lastLoss)).toBe(true);
  // Between step 100 and step 1000 nothing should accumulate: allow allocator noise only.
  const MB = 1024 * 1024;
  expect((rssEnd - rssAt100) / MB).toBeLessThan(40);
  expect((rssEnd - rssStart) / MB).toBeLessThan(80);
});

test('without tidy(), garbage collection reclaims every step: the autograd graph keeps nothing alive', () => {
  manualSeed(6);
  const { x, labels } = stripes(256, new Generator(10));
  const model = smallCnn();
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const batch = 16;
  const per = SIZE * SIZE;
  const sample = (): { rss: number; arrayBuffers: number } => {
    gc();
    const m = process.memoryUsage();
    return { rss: m.rss, arrayBuffers: m.arrayBuffers };
  };
  let at100 = sample();
  for (let k = 0; k < 400; k++) {
    const start = (k * batch) % (labels.length - batch);
    const xb = Tensor.from(x.data.subarray(start * per, (start + batch) * per), [batch, 1, SIZE, SIZE]);
    const yb = Tensor.from(labels.slice(start, start + batch));
    const loss = ops.crossEntropy(model.forward(xb), yb);
    loss.backward();
    opt.step();
    opt.zeroGrad();
    if (k === 99) at100 = sample();
  }
  const end = sample();
  const MB = 1024 * 1024;
  // Tensor storage lives in ArrayBuffers: after a GC, what 300 more steps left behind is noise.
  expect((end.arrayBuffers - at100.arrayBuffers) / MB).toBeLessThan(4);
  expect((end.rss - at100.rss) / MB).toBeLessThan(40);
});
