/**
 * Suite `gpu` (needs a CUDA device): the seed's ResNet-34 training step (batch 64, 32x32x3,
 * 7x7-s2 stem + max pool, Adam) with plain and with deformable 3x3 convs, and one deformable
 * layer (N8 C64 32x32 -> 64, 3x3, mask) forward and forward+backward, all on the GPU. Anchors,
 * measured in the same call: flexconv's plain step for the deformable one, and, when python3
 * with a CUDA torch is on the machine, the same work in PyTorch + cuDNN and torchvision's
 * deform_conv2d (scripts/gpu/torch_anchor.py). Goals (issue 13): plain step <= 1.5x torch,
 * deformable / plain <= 1.3, deformable step >= 3x faster than torchvision's.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { cuda, manualSeed, noGrad, tidy, Tensor } from '../../lib';
import { resnet34 } from '../../lib/models';
import type { Module } from '../../lib/nn';
import * as ops from '../../lib/ops';
import { stepFn } from './epoch';
import { BenchOptions, BenchRow, compareRow, measure, Measurement, round } from './harness';

interface TorchAnchor {
  torch: string;
  gpu: string;
  resnet34_plain: number;
  resnet34_deform: number;
  dcn_forward: number;
  dcn_forward_backward: number;
}

/** The torch figures, or null (with the reason on stderr) where python3 / torch / CUDA is missing. */
function torchAnchor(quick: boolean): TorchAnchor | null {
  const python = process.env.PYTHON ?? 'python3';
  const script = path.join(__dirname, '..', '..', '..', 'scripts', 'gpu', 'torch_anchor.py');
  const r = spawnSync(python, [script, ...(quick ? ['--quick'] : [])], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    console.error(
      `gpu bench: no torch anchor (${python} ${script}: ${r.error?.message ?? r.stderr.trim().split('\n').pop()})`,
    );
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchAnchor;
}

function fixed(ms: number): Measurement {
  return { median: ms, q1: ms, q3: ms, iqr: 0, min: ms, iters: 1 };
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  if (!cuda.isAvailable()) throw new Error('the gpu suite needs a CUDA device (cuda.isAvailable() is false)');
  const batch = opts.quick ? 16 : 64;
  const iters = opts.quick ? 3 : 10;
  manualSeed(1);
  const x = Tensor.randn([batch, 3, 32, 32]).to('cuda');
  const y = Tensor.from(
    Array.from({ length: batch }, (_, i) => i % 10),
    [batch],
  ).to('cuda');
  const build = (conv: 'standard' | 'deform'): Module =>
    resnet34({ numClasses: 10, stem: 'imagenet', conv }).to('cuda');
  const plain = await measure(stepFn(build('standard'), x, y), { warmup: 2, iters });
  const deform = await measure(stepFn(build('deform'), x, y), { warmup: 2, iters });

  const xi = Tensor.rand([8, 64, 32, 32]).to('cuda').requireGrad();
  const off = Tensor.rand([8, 18, 32, 32], { low: -2, high: 2 }).to('cuda').requireGrad();
  const mask = Tensor.rand([8, 9, 32, 32]).to('cuda').requireGrad();
  const w = Tensor.randn([64, 64, 3, 3], { std: 0.05 }).to('cuda').requireGrad();
  const g = Tensor.randn([8, 64, 32, 32]).to('cuda');
  const layer = () => ops.deformConv2d(xi, off, w, { padding: 1, mask });
  const fwd = await measure(() => tidy(() => noGrad(() => ops.sum(layer()).item())), { warmup: 3, iters: iters * 3 });
  const fwdBwd = await measure(
    () =>
      tidy(() => {
        layer().backward(g);
        xi.grad!.toArray();
      }),
    { warmup: 3, iters: iters * 3 },
  );

  const t = torchAnchor(opts.quick);
  const name = `resnet34 imagenet-stem 32x32, batch ${batch}, Adam`;
  const rows: BenchRow[] = [
    compareRow(`train step, deform every 3x3: ${name}`, 0, deform, 'flexconv plain step (GPU)', plain, {
      'deform/plain x': round(deform.median / plain.median, 3),
    }),
  ];
  if (t) {
    rows.push(
      compareRow(`train step, plain: ${name}`, 0, plain, `torch ${t.torch} + cuDNN`, fixed(t.resnet34_plain)),
      compareRow(
        `train step, deform every 3x3: ${name}`,
        0,
        deform,
        'torchvision DeformConv2d step',
        fixed(t.resnet34_deform),
      ),
      compareRow(
        'deformConv2d forward N8 C64 32x32->64, mask',
        0,
        fwd,
        'torchvision deform_conv2d',
        fixed(t.dcn_forward),
      ),
      compareRow(
        'deformConv2d forward+backward N8 C64 32x32->64, mask',
        0,
        fwdBwd,
        'torchvision deform_conv2d',
        fixed(t.dcn_forward_backward),
      ),
    );
  } else {
    rows.push(
      {
        case: `train step, plain: ${name}`,
        threads: 0,
        'flexconv ms': round(plain.median),
        anchor: 'no torch on this machine',
      },
      {
        case: 'deformConv2d forward N8 C64 32x32->64, mask',
        threads: 0,
        'flexconv ms': round(fwd.median),
        anchor: 'no torch on this machine',
      },
      {
        case: 'deformConv2d forward+backward N8 C64 32x32->64, mask',
        threads: 0,
        'flexconv ms': round(fwdBwd.median),
        anchor: 'no torch on this machine',
      },
    );
  }
  return rows;
}
