/**
 * Soak test: many training steps of a small deformable ResNet, checking that resident memory
 * does not grow after warm-up (a leak in a kernel's scratch, the autograd graph or the storage
 * pool shows up here long before a user's week-long job runs out of memory).
 *
 *   npm run soak -- [--steps 1500] [--max-growth 0.05]
 *
 * Exit code 1 when native memory or the JS heap in use (see settledMemory) in the last third of
 * the steps exceed their warm-up values (the first third) by more than --max-growth (the JS heap
 * with 1 MB of slack). The warm-up is long on purpose: the C allocator settles over the first
 * few hundred steps.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { manualSeed, memoryStats, models, ops, optim, Tensor, tidy } from '../lib';

/**
 * Memory after a full collection, in two parts: `native`, resident memory outside V8's heap
 * (tensor storage, kernel scratch, the addon), and `js`, the JS heap in use. RSS itself is not
 * compared: V8 grows its heap reservation in steps (measured: heapTotal 27 -> 45 MB around step
 * 1,400 with heapUsed flat at 6 MB), moving RSS by ~17 MB at once without anything leaking.
 */
function settledMemory(): { native: number; js: number } {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
  const m = process.memoryUsage();
  return { native: m.rss - m.heapTotal, js: m.heapUsed };
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0)
    throw new Error(`soak: expected --${name} to be a positive number but received ${process.argv[i + 1]}`);
  return v;
}

function main(): void {
  const steps = Math.round(option('steps', 1500));
  const maxGrowth = option('max-growth', 0.05);
  const warmup = Math.floor(steps / 3);
  manualSeed(3);
  const net = models.resnet18({
    numClasses: 10,
    inChannels: 1,
    stem: 'cifar',
    width: 8,
    conv: { kind: 'deform', stages: [3, 4] },
  });
  const opt = new optim.Adam(optim.deformParamGroups(net, { lr: 1e-3, offsetLrMult: 0.1 }), { lr: 1e-3 });
  const x = Tensor.randn([8, 1, 16, 16]);
  const y = Tensor.from([0, 1, 2, 3, 4, 5, 6, 7], [8]);
  // Readings every 100 steps, each after a full collection. Native memory wobbles by a few MB
  // from reading to reading (the C allocator), so growth is the lowest reading of the last
  // third against the highest of the second half of the warm-up: a leak raises every late
  // reading, noise does not.
  const early: { native: number; js: number }[] = [];
  const late: { native: number; js: number }[] = [];
  const started = Date.now();
  for (let s = 1; s <= steps; s++) {
    tidy(() => {
      opt.zeroGrad();
      const loss = ops.crossEntropy(net.forward(x), y);
      loss.backward();
      opt.step();
      loss.item();
    });
    if (s % 100 !== 0 && s !== steps) continue;
    if (s >= warmup / 2 && s <= warmup) early.push(settledMemory());
    else if (s >= steps - steps / 3) late.push(settledMemory());
  }
  const before = { native: Math.max(...early.map((m) => m.native)), js: Math.max(...early.map((m) => m.js)) };
  const after = { native: Math.min(...late.map((m) => m.native)), js: Math.min(...late.map((m) => m.js)) };
  const nativeGrowth = (after.native - before.native) / before.native;
  const jsGrowth = (after.js - before.js - 2 ** 20) / before.js;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
  console.log(
    `soak: ${steps} steps of a deformable ResNet-18 (width 8) in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `warm-up (highest) / last third (lowest): native ${mb(before.native)} / ${mb(after.native)} (${(100 * nativeGrowth).toFixed(2)}%), ` +
      `JS heap ${mb(before.js)} / ${mb(after.js)}; limit ${(100 * maxGrowth).toFixed(1)}%; ` +
      `live tensors ${mb(memoryStats().tensorBytes)}, kernel scratch ${mb(memoryStats().allocated)}`,
  );
  if (nativeGrowth > maxGrowth || jsGrowth > maxGrowth) process.exit(1);
}

main();
