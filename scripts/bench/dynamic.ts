/**
 * Dynamic convolution suite (`npm run bench -- dynamic`): 3x3 convs (padding 1), K = 4 experts
 * with expert biases: B32 64 -> 64 32x32, B128 64 -> 64 8x8, and DynamicNet's stride-2 stage
 * entries (B64 32 -> 64 16x16 -> 8x8, B64 64 -> 128 8x8 -> 4x4).
 *
 * Rows, each with its anchor measured in the same run (interleaved):
 *   - ops.dynamicConv2d vs a static ops.conv2d of the same shape (forward, forward+backward
 *     with every gradient); goal: forward+backward <= 1.3x the static conv (vs anchor >= 0.77);
 *   - ops.dynamicConv2d vs the per-sample loop in JS (mix the kernels with ops.matmul, then
 *     one ops.conv2d per sample with its mixed kernel; backward per sample and the expert and
 *     attention gradients by matmul); goal: >= 5x faster.
 */
import { Tensor, ops, setNumThreads, getNumThreads, manualSeed, tidy } from '../../lib';
import {
  BenchOptions,
  BenchRow,
  compareRow,
  convFlops,
  measureInterleaved,
  rateColumns,
  round,
  threadList,
} from './harness';

interface Shape {
  B: number;
  C: number;
  O: number;
  H: number;
  W: number;
  k: number;
  K: number;
  stride: number;
}

// The case, a late-stage shape (small images, big batch) where per-call overhead
// dominates the per-sample loop, then DynamicNet's stride-2 stage entries on 32x32 inputs
// (32->64 16x16 -> 8x8, 64->128 8x8 -> 4x4): tiny outputs per sample.
const fullShapes: Shape[] = [
  { B: 32, C: 64, O: 64, H: 32, W: 32, k: 3, K: 4, stride: 1 },
  { B: 128, C: 64, O: 64, H: 8, W: 8, k: 3, K: 4, stride: 1 },
  { B: 64, C: 32, O: 64, H: 16, W: 16, k: 3, K: 4, stride: 2 },
  { B: 64, C: 64, O: 128, H: 8, W: 8, k: 3, K: 4, stride: 2 },
];
const quickShapes: Shape[] = [
  { B: 8, C: 32, O: 32, H: 16, W: 16, k: 3, K: 4, stride: 1 },
  { B: 8, C: 32, O: 64, H: 8, W: 8, k: 3, K: 4, stride: 2 },
];

// Output size of the padding-1 convs timed here.
function outSize(s: Shape, n: number): number {
  return Math.floor((n + 2 - s.k) / s.stride) + 1;
}

function setup(s: Shape) {
  const input = Tensor.randn([s.B, s.C, s.H, s.W], { requiresGrad: true });
  const experts = Tensor.randn([s.K, s.O, s.C, s.k, s.k], { std: 0.05, requiresGrad: true });
  const attention = Tensor.rand([s.B, s.K], { requiresGrad: true });
  const expertBias = Tensor.randn([s.K, s.O], { requiresGrad: true });
  const weight = Tensor.randn([s.O, s.C, s.k, s.k], { std: 0.05, requiresGrad: true });
  const bias = Tensor.randn([s.O], { requiresGrad: true });
  const gradOut = Tensor.randn([s.B, s.O, outSize(s, s.H), outSize(s, s.W)]);
  return { input, experts, attention, expertBias, weight, bias, gradOut };
}

type Setup = ReturnType<typeof setup>;

function clearGrads(t: Setup): void {
  for (const p of [t.input, t.experts, t.attention, t.expertBias, t.weight, t.bias]) p.grad = null;
}

function dynamicStep(s: Shape, t: Setup, backward: boolean): void {
  tidy(() => {
    const out = ops.dynamicConv2d(t.input, t.experts, t.attention, {
      expertBias: t.expertBias,
      padding: 1,
      stride: s.stride,
    });
    if (backward) out.backward(t.gradOut);
  });
  clearGrads(t);
}

function staticStep(s: Shape, t: Setup, backward: boolean): void {
  tidy(() => {
    const out = ops.conv2d(t.input, t.weight, { bias: t.bias, padding: 1, stride: s.stride });
    if (backward) out.backward(t.gradOut);
  });
  clearGrads(t);
}

// What one writes without a batched op: mix the kernels, then a conv2d per sample.
function perSampleStep(s: Shape, t: Setup, backward: boolean): void {
  tidy(() => {
    const D = s.O * s.C * s.k * s.k;
    const OH = outSize(s, s.H),
      OW = outSize(s, s.W);
    const P = OH * OW;
    const W = ops.matmul(t.attention.detach(), t.experts.detach().view([s.K, D]));
    const bias = ops.matmul(t.attention.detach(), t.expertBias.detach());
    const out = Tensor.empty([s.B, s.O, OH, OW]);
    const gW = backward ? Tensor.empty([s.B, D]) : null;
    const gB = backward ? Tensor.zeros([s.B, s.O]) : null;
    const gIn = backward ? Tensor.empty(t.input.shape) : null;
    const image = s.C * s.H * s.W;
    for (let b = 0; b < s.B; b++) {
      const xb = Tensor.from(t.input.data.subarray(b * image, (b + 1) * image), [1, s.C, s.H, s.W], {
        requiresGrad: backward,
      });
      const wb = Tensor.from(W.data.subarray(b * D, (b + 1) * D), [s.O, s.C, s.k, s.k], { requiresGrad: backward });
      const bb = Tensor.from(bias.data.subarray(b * s.O, (b + 1) * s.O), [s.O], { requiresGrad: backward });
      const yb = ops.conv2d(xb, wb, { bias: bb, padding: 1, stride: s.stride });
      out.data.set(yb.data, b * s.O * P);
      if (backward) {
        yb.backward(Tensor.from(t.gradOut.data.subarray(b * s.O * P, (b + 1) * s.O * P), yb.shape));
        gIn!.data.set(xb.grad!.data, b * image);
        gW!.data.set(wb.grad!.data, b * D);
        gB!.data.set(bb.grad!.data, b * s.O);
      }
    }
    if (backward) {
      // Expert, expert-bias and attention gradients from the per-sample kernel gradients.
      ops.matmul(t.attention.detach(), gW!, { transA: true });
      ops.matmul(t.attention.detach(), gB!, { transA: true });
      ops.matmul(gW!, t.experts.detach().view([s.K, D]), { transB: true });
      ops.matmul(gB!, t.expertBias.detach(), { transB: true });
    }
  });
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const savedThreads = getNumThreads();
  const rows: BenchRow[] = [];
  const timing = opts.quick ? { warmup: 1, iters: 3 } : { warmup: 2, targetMs: 4000, minIters: 5, maxIters: 40 };
  try {
    for (const s of opts.quick ? quickShapes : fullShapes) {
      manualSeed(1);
      const t = setup(s);
      const out = s.stride === 1 ? '' : ` -> ${outSize(s, s.H)}x${outSize(s, s.W)} stride ${s.stride}`;
      const name = `B${s.B} ${s.C}->${s.O} ${s.H}x${s.W}${out} ${s.k}x${s.k} K=${s.K}`;
      for (const threads of threadList(opts)) {
        setNumThreads(threads);
        for (const backward of [false, true]) {
          const pass = backward ? 'forward+backward' : 'forward';
          const [dyn, stat, loop] = await measureInterleaved(
            [() => dynamicStep(s, t, backward), () => staticStep(s, t, backward), () => perSampleStep(s, t, backward)],
            timing,
          );
          // The static conv's nominal arithmetic (mixing the kernels is not counted).
          const flops = (backward ? 3 : 1) * convFlops(s.B, s.O, s.C, s.k * s.k, outSize(s, s.H) * outSize(s, s.W));
          rows.push(
            compareRow(`${name} ${pass}`, threads, dyn, 'static conv2d', stat, {
              'x static': round(dyn.median / stat.median, 3),
              goal: backward ? '<= 1.3x static' : '',
              ...rateColumns(flops, dyn.median, threads),
            }),
          );
          rows.push(compareRow(`${name} ${pass}`, threads, dyn, 'per-sample loop', loop, { goal: '>= 5x faster' }));
        }
      }
    }
  } finally {
    setNumThreads(savedThreads);
  }
  return rows;
}
