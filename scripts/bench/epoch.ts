/**
 * Suite `epoch`: one training step (forward, cross-entropy, backward, Adam update) of
 * ResNet-34 with the CIFAR stem at batch 64 on 32x32x3 inputs, with plain convolutions and with
 * deformable convolutions in every 3x3 conv of the residual stages; the medians and their ratio.
 * Reference points: 45 s vs 90 s per CIFAR-10 epoch on a GPU (ratio 2.0); about 11.5x with
 * PyTorch's CPU kernels on this machine. Goals: ratio <= 1.5, plain step <= 0.45 s at 2 threads.
 * --quick: ResNet-18 at width 16, batch 16.
 */
import { getNumThreads, manualSeed, profile, setNumThreads, tidy, Tensor } from '../../lib';
import { resnet18, resnet34 } from '../../lib/models';
import type { Module } from '../../lib/nn';
import * as ops from '../../lib/ops';
import * as optim from '../../lib/optim';
import { BenchOptions, BenchRow, compareRow, measureInterleaved, threadList } from './harness';

/** One Adam training step of `model` on (x, y), ending in loss.item() (which waits for a GPU too). */
export function stepFn(model: Module, x: Tensor, y: Tensor): () => void {
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-3 });
  model.train();
  return () =>
    tidy(() => {
      optimizer.zeroGrad();
      const loss = ops.crossEntropy(model.forward(x) as Tensor, y);
      loss.backward();
      optimizer.step();
      loss.item();
    });
}

/** One step of each network under profile(): ms per native kernel side by side, deformable's extra last. */
async function kernelComparison(threads: number, deform: () => void, standard: () => void): Promise<string> {
  const d = (await profile(deform)).report;
  const s = (await profile(standard)).report;
  const ms = (r: typeof d, kernel: string): number => r.kernels.find((k) => k.kernel === kernel)?.ms ?? 0;
  const names = [...new Set([...d.kernels, ...s.kernels].map((k) => k.kernel))];
  const rows = names
    .map((k) => [k, ms(s, k), ms(d, k)] as const)
    .filter(([, a, b]) => a + b >= 0.5)
    .sort((a, b) => b[2] - b[1] - (a[2] - a[1]));
  rows.push(['(outside native code)', s.totalMs - s.nativeMs, d.totalMs - d.nativeMs]);
  rows.push(['step', s.totalMs, d.totalMs]);
  const lines = rows.map(
    ([k, a, b]) =>
      `${k.padEnd(28)} ${a.toFixed(1).padStart(9)} ${b.toFixed(1).padStart(9)} ${(b - a).toFixed(1).padStart(9)}`,
  );
  return [
    `one training step, ${threads} threads, ms per native kernel:`,
    `${'kernel'.padEnd(28)} ${'plain'.padStart(9)} ${'deform'.padStart(9)} ${'extra'.padStart(9)}`,
    ...lines,
  ].join('\n');
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const batch = opts.quick ? 16 : 64;
  const build = (conv: 'standard' | 'deform'): Module =>
    opts.quick
      ? resnet18({ numClasses: 10, stem: 'cifar', width: 16, conv })
      : resnet34({ numClasses: 10, stem: 'cifar', conv });
  const name = opts.quick ? `resnet18 w16 cifar, batch ${batch}` : `resnet34 cifar, batch ${batch}`;
  const saved = getNumThreads();
  const rows: BenchRow[] = [];
  manualSeed(1);
  const x = Tensor.randn([batch, 3, 32, 32]);
  const y = Tensor.from(
    Array.from({ length: batch }, (_, i) => i % 10),
    [batch],
  );
  try {
    for (const threads of threadList(opts, [2])) {
      setNumThreads(threads);
      manualSeed(2);
      const standard = stepFn(build('standard'), x, y);
      manualSeed(2);
      const deform = stepFn(build('deform'), x, y);
      const [d, s] = await measureInterleaved([deform, standard], { warmup: 1, iters: opts.quick ? 3 : 5 });
      if (opts.profile) console.error(await kernelComparison(threads, deform, standard));
      rows.push(
        compareRow(`train step, deform every 3x3: ${name}`, threads, d, 'same net, plain conv', s, {
          'images/s': Math.round((batch * 1000) / d.median),
          'plain images/s': Math.round((batch * 1000) / s.median),
          'deform/plain x': Math.round((d.median / s.median) * 100) / 100,
        }),
      );
    }
  } finally {
    setNumThreads(saved);
  }
  return rows;
}
