/**
 * Inference suite: a model's eval-mode forward in flexconv vs the same model exported with
 * exportOnnx and run by ONNX Runtime (DeformConv, Conv, BatchNormalization, ...), same
 * process, same thread count, interleaved, medians. `vs anchor` > 1 means flexconv is faster.
 *
 * Models: ResNet-18 (CIFAR stem, 32x32 input) with deformable (DCNv1) 3x3 convs in every
 * stage, and the same network with standard convs for context. ORT runs with graph
 * optimisations on (BN folded into the convs) and without spinning threads.
 */
import { exportOnnx, getNumThreads, manualSeed, models, noGrad, setNumThreads, Tensor, tidy } from '../../lib';
import type { Module } from '../../lib/nn/module';
import { OrtSession } from '../../lib/onnx/ort';
import { BenchOptions, BenchRow, compareRow, measureInterleaved, MeasureOptions, threadList } from './harness';

interface Case {
  name: string;
  conv: 'deform' | 'standard';
  batch: number;
  width: number;
}

const CASES: Case[] = [
  { name: 'deformable ResNet-18 (width 32) N8 32x32', conv: 'deform', batch: 8, width: 32 },
  { name: 'ResNet-18 (width 32) N8 32x32', conv: 'standard', batch: 8, width: 32 },
];

const QUICK: Case[] = [{ name: 'deformable ResNet-18 (width 8) N2 32x32', conv: 'deform', batch: 2, width: 8 }];

function build(c: Case): Module {
  const model = models.resnet18({ stem: 'cifar', width: c.width, numClasses: 10, conv: c.conv });
  model.eval();
  return model;
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const saved = getNumThreads();
  const rows: BenchRow[] = [];
  manualSeed(11);
  const timing: MeasureOptions = opts.quick ? { warmup: 1, iters: 3 } : { warmup: 2, targetMs: 3000, minIters: 5, maxIters: 40 };
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
        const [fwd, ort] = await measureInterleaved([ours, () => session.runRaw(feeds)], timing);
        await session.release();
        rows.push(compareRow(`eval forward ${c.name}`, t, fwd, 'ORT (exported model)', ort, { 'model MB': Math.round((bytes.length / 2 ** 20) * 10) / 10 }));
      }
      x.dispose();
    }
  } finally {
    setNumThreads(saved);
  }
  return rows;
}
