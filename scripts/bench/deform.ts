/**
 * Deformable convolution suite: 3x3, padding 1, mask on, offsets uniform in [-2, 2].
 *
 * Rows per shape and thread count:
 *   forward          flexconv deformConv2d vs ONNX Runtime's DeformConv (opset 19), same
 *                    threads, all operands graph inputs (no prepacking on either side);
 *   forward+backward flexconv deformConv2d forward + backward (input, offset, mask, weight,
 *                    bias gradients) vs our own conv2d forward + backward (input, weight,
 *                    bias) on the same shapes; `vs anchor` < 1 means deform is slower;
 *                    the goal is deform <= 2x conv2d, i.e. `vs anchor` >= 0.5.
 * Conv rows also show GFLOP/s and % of the measured peak (the GEMM's nominal arithmetic;
 * x3 for forward+backward). And once: the peak extra native memory of the forward and of the backward at
 * N1 C256 64x64 (all outputs preallocated, so the figure is scratch space only).
 */
import { Tensor, setNumThreads, getNumThreads, manualSeed, memoryStats, resetPeakMemory, ops } from '../../lib';
import { native } from '../../lib/native';
import { OnnxGraphBuilder } from '../../lib/onnx/builder';
import { OrtSession } from '../../lib/onnx/ort';
import {
  BenchOptions,
  BenchRow,
  compareRow,
  convFlops,
  measureInterleaved,
  MeasureOptions,
  rateColumns,
  round,
  threadList,
} from './harness';

interface Shape {
  N: number;
  C: number;
  H: number;
  O: number;
}

const SHAPES: Shape[] = [
  { N: 8, C: 64, H: 32, O: 64 },
  { N: 8, C: 128, H: 16, O: 128 },
  { N: 1, C: 256, H: 64, O: 256 },
];

const name = (s: Shape) => `N${s.N} C${s.C} ${s.H}x${s.H}->${s.O}`;

interface Operands {
  x: Tensor;
  offset: Tensor;
  mask: Tensor;
  weight: Tensor;
  bias: Tensor;
  gradOut: Tensor;
}

function operands(s: Shape): Operands {
  return {
    x: Tensor.randn([s.N, s.C, s.H, s.H]),
    offset: Tensor.rand([s.N, 18, s.H, s.H], { low: -2, high: 2 }),
    mask: Tensor.rand([s.N, 9, s.H, s.H]),
    weight: Tensor.randn([s.O, s.C, 3, 3], { std: 0.05 }),
    bias: Tensor.randn([s.O]),
    gradOut: Tensor.randn([s.N, s.O, s.H, s.H]),
  };
}

function deformModel(s: Shape): Uint8Array {
  return new OnnxGraphBuilder({ opset: 19 })
    .input('X', [s.N, s.C, s.H, s.H])
    .input('W', [s.O, s.C, 3, 3])
    .input('offset', [s.N, 18, s.H, s.H])
    .input('B', [s.O])
    .input('mask', [s.N, 9, s.H, s.H])
    .node('DeformConv', ['X', 'W', 'offset', 'B', 'mask'], ['Y'], {
      kernel_shape: [3, 3],
      pads: [1, 1, 1, 1],
      strides: [1, 1],
      dilations: [1, 1],
      group: 1,
      offset_group: 1,
    })
    .output('Y', [s.N, s.O, s.H, s.H])
    .toBytes();
}

/** stride 1, padding 1, dilation 1 */
const WINDOW = { stride: [1, 1], padding: [1, 1], dilation: [1, 1] } as const;

function clearGrads(ts: Tensor[]): void {
  for (const t of ts) {
    t.grad?.dispose();
    t.grad = null;
  }
}

/** One training step's worth of the op through the public API (autograd included). */
function deformStep(o: Operands): void {
  const out = ops.deformConv2d(o.x, o.offset, o.weight, { mask: o.mask, bias: o.bias, padding: 1 });
  out.backward(o.gradOut);
  out.dispose();
  clearGrads([o.x, o.offset, o.mask, o.weight, o.bias]);
}

type Conv2d = (x: Tensor, w: Tensor, opts: { bias?: Tensor; padding?: number }) => Tensor;

function convStep(conv2d: Conv2d, o: Operands): void {
  const out = conv2d(o.x, o.weight, { bias: o.bias, padding: 1 });
  out.backward(o.gradOut);
  out.dispose();
  clearGrads([o.x, o.weight, o.bias]);
}

function peakExtraMb(fn: () => void): number {
  const before = memoryStats().allocated;
  resetPeakMemory();
  fn();
  return round((memoryStats().peak - before) / (1 << 20), 3);
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const saved = getNumThreads();
  const rows: BenchRow[] = [];
  manualSeed(7);
  const timing: MeasureOptions = opts.quick
    ? { warmup: 1, iters: 3 }
    : { warmup: 2, targetMs: 3000, minIters: 5, maxIters: 50 };
  const conv2d = (ops as unknown as { conv2d?: Conv2d }).conv2d;
  try {
    for (const s of opts.quick ? SHAPES.slice(0, 1) : SHAPES) {
      const o = operands(s);
      const y = Tensor.empty([s.N, s.O, s.H, s.H]);
      for (const t of threadList(opts)) {
        setNumThreads(t);
        const session = await OrtSession.create(deformModel(s), { threads: t, allowSpinning: false });
        const feeds = session.feeds({ X: o.x, W: o.weight, offset: o.offset, B: o.bias, mask: o.mask });
        const [fwd, ort] = await measureInterleaved(
          [
            () => native().deformConv2d(o.x, o.offset, o.mask, o.weight, o.bias, y, WINDOW),
            () => session.runRaw(feeds),
          ],
          timing,
        );
        await session.release();
        // The GEMM's arithmetic (the sampling's is not counted).
        const flops = convFlops(s.N, s.O, s.C, 9, s.H * s.H);
        rows.push(compareRow(`forward ${name(s)}`, t, fwd, 'ORT DeformConv', ort, rateColumns(flops, fwd.median, t)));

        for (const v of [o.x, o.offset, o.mask, o.weight, o.bias]) v.requireGrad();
        if (conv2d) {
          const [train, conv] = await measureInterleaved([() => deformStep(o), () => convStep(conv2d, o)], timing);
          rows.push(
            compareRow(
              `forward+backward ${name(s)}`,
              t,
              train,
              'conv2d fwd+bwd',
              conv,
              rateColumns(3 * flops, train.median, t),
            ),
          );
        } else {
          const [train] = await measureInterleaved([() => deformStep(o)], timing);
          rows.push({
            case: `forward+backward ${name(s)}`,
            threads: t,
            'flexconv ms': round(train.median),
            'IQR ms': round(train.iqr),
            anchor: 'conv2d (not in this build)',
            'anchor ms': null,
            'vs anchor': null,
          });
        }
        for (const v of [o.x, o.offset, o.mask, o.weight, o.bias]) v.requiresGrad = false;
      }
      if (s.N === 1 && s.C === 256) {
        const grads = [o.x, o.offset, o.mask, o.weight, o.bias].map((t) => Tensor.empty(t.shape));
        const fwdMb = peakExtraMb(() => native().deformConv2d(o.x, o.offset, o.mask, o.weight, o.bias, y, WINDOW));
        const bwdMb = peakExtraMb(() =>
          native().deformConv2dBackward(
            o.x,
            o.offset,
            o.mask,
            o.weight,
            o.gradOut,
            grads[0],
            grads[1],
            grads[2],
            grads[3],
            grads[4],
            { ...WINDOW, deterministic: true },
          ),
        );
        rows.push({
          case: `peak extra memory ${name(s)} forward (MB)`,
          threads: null,
          'flexconv ms': null,
          'IQR ms': null,
          anchor: 'goal <= 16 MB',
          'anchor ms': null,
          'vs anchor': null,
          MB: fwdMb,
        });
        rows.push({
          case: `peak extra memory ${name(s)} backward (MB)`,
          threads: null,
          'flexconv ms': null,
          'IQR ms': null,
          anchor: '',
          'anchor ms': null,
          'vs anchor': null,
          MB: bwdMb,
        });
        grads.forEach((g) => g.dispose());
      }
      for (const t of [...Object.values(o), y]) t.dispose();
    }
  } finally {
    setNumThreads(saved);
  }
  return rows;
}
