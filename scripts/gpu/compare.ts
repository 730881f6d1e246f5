/**
 * CUDA against CPU on whole training runs (part of scripts/gpu-check): the same model, weights
 * and batches trained for a few SGD steps on each device; reports, per model, the largest
 * relative difference of the loss and of every parameter after the steps. Deformable,
 * modulated, dynamic and octave ResNets and a U-Net, at shapes larger than the unit tests'.
 *
 *   node dist/scripts/gpu/compare.js [--steps 3] [--json file]
 *
 * Exit code 1 when CUDA is unavailable or any model differs by more than the tolerance
 * (TF32 is not used by flexconv's own kernels, so the CPU's float32 results are the reference).
 */
import * as fs from 'fs';
import { cuda, manualSeed, models, ops, optim, Tensor, tidy } from '../../lib';
import type { Module } from '../../lib/nn';

interface Case {
  name: string;
  build: () => Module;
  input: [number, number, number, number];
  segmentation?: boolean;
}

const CASES: Case[] = [
  ...(['standard', 'deform', 'modulated', 'dynamic', 'octave'] as const).map((conv) => ({
    name: `resnet18 w16 cifar ${conv}`,
    build: () => models.resnet18({ numClasses: 10, stem: 'cifar', width: 16, conv }),
    input: [16, 3, 32, 32] as [number, number, number, number],
  })),
  {
    name: 'resnet34 w16 imagenet-stem deform stages 3-4',
    build: () =>
      models.resnet34({ numClasses: 10, stem: 'imagenet', width: 16, conv: { kind: 'deform', stages: [3, 4] } }),
    input: [16, 3, 64, 64],
  },
  ...(['standard', 'deform', 'modulated'] as const).map((conv) => ({
    name: `unet base 8 depth 3 ${conv}`,
    build: () => models.unet({ inChannels: 1, numClasses: 3, baseChannels: 8, depth: 3, conv }),
    input: [4, 1, 48, 48] as [number, number, number, number],
    segmentation: true,
  })),
];

function relDiff(a: number[], b: number[]): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-12);
}

function train(model: Module, x: Tensor, y: Tensor, steps: number): number[] {
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  model.train();
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    tidy(() => {
      opt.zeroGrad();
      const loss = ops.crossEntropy(model.forward(x) as Tensor, y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    });
  }
  return losses;
}

function main(): void {
  const args = process.argv.slice(2);
  const stepsAt = args.indexOf('--steps');
  const steps = stepsAt >= 0 ? Number(args[stepsAt + 1]) : 3;
  if (!Number.isInteger(steps) || steps < 1) {
    console.error(`gpu compare: expected --steps to be a positive integer but received ${args[stepsAt + 1]}`);
    process.exit(2);
  }
  const jsonAt = args.indexOf('--json');
  if (!cuda.isAvailable()) {
    console.error('gpu compare: no CUDA device (cuda.isAvailable() is false)');
    process.exit(1);
  }
  const tolerance = 2e-3;
  const results = [];
  let failed = 0;
  for (const c of CASES) {
    const started = Date.now();
    try {
      manualSeed(7);
      const cpuModel = c.build();
      const gpuModel = c.build();
      gpuModel.loadStateDict(cpuModel.stateDict());
      gpuModel.to('cuda');
      const x = Tensor.randn(c.input);
      const [n, , h, w] = c.input;
      const y = c.segmentation
        ? Tensor.from(
            Array.from({ length: n * h * w }, (_, i) => (i * 7) % 3),
            [n, h, w],
          )
        : Tensor.from(
            Array.from({ length: n }, (_, i) => i % 10),
            [n],
          );
      const cpuLoss = train(cpuModel, x, y, steps);
      const gpuLoss = train(gpuModel, x.to('cuda'), y.to('cuda'), steps);
      const cpuState = cpuModel.stateDict();
      const gpuState = gpuModel.stateDict();
      let worst = 0,
        worstKey = '';
      for (const [key, t] of Object.entries(cpuState)) {
        const d = relDiff(gpuState[key].toArray(), t.toArray());
        if (d > worst) [worst, worstKey] = [d, key];
      }
      const lossDiff = relDiff(gpuLoss, cpuLoss);
      const ok = worst <= tolerance && lossDiff <= tolerance && gpuLoss.every(Number.isFinite);
      if (!ok) failed++;
      results.push({
        model: c.name,
        ok,
        steps,
        cpuLoss,
        gpuLoss,
        lossRelDiff: lossDiff,
        worstParamRelDiff: worst,
        worstParam: worstKey,
        seconds: (Date.now() - started) / 1000,
      });
    } catch (e) {
      failed++;
      results.push({ model: c.name, ok: false, error: (e as Error).message, seconds: (Date.now() - started) / 1000 });
    }
    const r = results[results.length - 1];
    console.log(
      `${r.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${'error' in r ? r.error : `loss rel diff ${r.lossRelDiff.toExponential(2)}, worst parameter ${r.worstParam} ${r.worstParamRelDiff.toExponential(2)}`}`,
    );
  }
  const report = { tolerance, steps, failed, results };
  if (jsonAt >= 0) fs.writeFileSync(args[jsonAt + 1], `${JSON.stringify(report, null, 2)}\n`);
  process.exit(failed ? 1 : 0);
}

main();
