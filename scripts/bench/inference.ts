/**
 * Inference suite: a model's eval-mode forward in flexconv vs the same model exported with
 * exportOnnx and run by ONNX Runtime (DeformConv, Conv, BatchNormalization, ...), same
 * process, same thread count, interleaved, medians. `vs anchor` > 1 means flexconv is faster.
 *
 * Models: ResNet-18 and ResNet-34 (width 64, CIFAR stem, 32x32 input), plain, deformable
 * (DCNv1) and modulated (DCNv2) in stages 2-4, and OctNet (octave convolutions, alpha 0.5,
 * widths 64/128/256), batch 1 and 32. Both sides fold batch norm into the convolutions (ORT's
 * graph optimisations; flexconv's eval path, lib/nn/fold.ts and OctaveConvBlock).
 * ORT runs without spinning threads. Each case warms up for a second of rounds before timing:
 * V8 compiles a module forward's JavaScript only after tens of forwards, and a server runs a
 * model far longer than that (after a two-round warm-up, OctNet's batch-1 forward measured up
 * to 1.5x its time 120 rounds later, ORT's up to 1.2x: BENCHMARKS.md, 2026-12-07 06:46).
 * `plan ms` is the same forward replayed by an nn.InferencePlan (the recorded native calls, no
 * JavaScript between them), measured in the same interleaved rounds; `plan vs anchor` is ORT's
 * time over it.
 */
import { exportOnnx, getNumThreads, manualSeed, models, nn, noGrad, setNumThreads, Tensor, tidy } from '../../lib';
import type { Module } from '../../lib/nn/module';
import { OrtSession } from '../../lib/onnx/ort';
import { BenchOptions, BenchRow, compareRow, measureInterleaved, MeasureOptions, round, threadList } from './harness';

interface Case {
  name: string;
  model: 'resnet18' | 'resnet34' | 'octnet';
  conv: 'standard' | 'deform' | 'modulated';
  batch: number;
  width: number;
}

// The real networks (width 64, CIFAR stem, 32x32 inputs), deformable and modulated in stages
// 2-4 as in DCNv2, at batch 1 (latency) and 32 (throughput); then an octave network.
const RESNETS: Case[] = (['resnet18', 'resnet34'] as const).flatMap((model) =>
  (['standard', 'deform', 'modulated'] as const).flatMap((conv) =>
    [1, 32].map((batch) => ({
      name: `${conv === 'standard' ? '' : `${conv === 'deform' ? 'deformable' : 'modulated'} `}${model === 'resnet18' ? 'ResNet-18' : 'ResNet-34'} N${batch} 32x32`,
      model,
      conv,
      batch,
      width: 64,
    })),
  ),
);
const OCTNETS: Case[] = [1, 32].map((batch) => ({
  name: `OctNet (alpha 0.5, 64/128/256) N${batch} 32x32`,
  model: 'octnet',
  conv: 'standard',
  batch,
  width: 64,
}));
const CASES: Case[] = [...RESNETS, ...OCTNETS];

const QUICK: Case[] = [
  { name: 'deformable ResNet-18 (width 8) N2 32x32', model: 'resnet18', conv: 'deform', batch: 2, width: 8 },
  { name: 'ResNet-18 (width 8) N2 32x32', model: 'resnet18', conv: 'standard', batch: 2, width: 8 },
];

function build(c: Case): Module {
  if (c.model === 'octnet') {
    const octnet = new models.OctNet({ widths: [c.width, 2 * c.width, 4 * c.width], alpha: 0.5 });
    octnet.eval();
    return octnet;
  }
  const make = c.model === 'resnet18' ? models.resnet18 : models.resnet34;
  const model = make({
    stem: 'cifar',
    width: c.width,
    numClasses: 10,
    conv: c.conv === 'standard' ? 'standard' : { kind: c.conv, stages: [2, 3, 4] },
  });
  model.eval();
  return model;
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const saved = getNumThreads();
  const rows: BenchRow[] = [];
  manualSeed(11);
  const timing: MeasureOptions = opts.quick
    ? { warmup: 1, iters: 3 }
    : { warmup: 2, warmupMs: 1000, targetMs: 2500, minIters: 5, maxIters: 200 };
  try {
    for (const c of opts.quick ? QUICK : CASES) {
      const model = build(c);
      const x = Tensor.randn([c.batch, 3, 32, 32]);
      const bytes = exportOnnx(model, x);
      for (const t of threadList(opts)) {
        setNumThreads(t);
        const session = await OrtSession.create(bytes, { threads: t, allowSpinning: false });
        const feeds = session.feeds({ input: x });
        const ours = () => tidy(() => void noGrad(() => model.forward(x)));
        const plan = new nn.InferencePlan(model, x);
        const replay = () => tidy(() => void plan.run(x));
        const [fwd, planned, ort] = await measureInterleaved([ours, replay, () => session.runRaw(feeds)], timing);
        plan.dispose();
        await session.release();
        rows.push(
          compareRow(`eval forward ${c.name}`, t, fwd, 'ORT (exported model)', ort, {
            'plan ms': round(planned.median),
            'plan vs anchor x': round(ort.median / planned.median, 3),
            'model MB': Math.round((bytes.length / 2 ** 20) * 10) / 10,
          }),
        );
      }
      x.dispose();
    }
  } finally {
    setNumThreads(saved);
  }
  return rows;
}
