/**
 * Convolution suite (`npm run bench -- conv`): flexconv's conv2d against ONNX Runtime's Conv
 * (default graph optimisations, weights and bias as initializers, as an exported model runs)
 * at the same thread count, interleaved in the same run (ORT's idle threads do not spin, so
 * they do not steal the cores from the flexconv call that follows); and flexconv's forward+backward
 * against flexconv's own forward (goal: <= 3.2x). GFLOP/s and the percentage of the machine's
 * measured peak (harness.measuredPeakGflops: flexconv's best square GEMM at that thread count)
 * on every row.
 *
 * Other engineers add rows by appending a section to `sections` (an async function
 * returning rows), e.g. batch_norm and pooling.
 */
import { Tensor, setNumThreads, getNumThreads, manualSeed, noGrad, ops } from '../../lib';
import { OnnxGraphBuilder, attr } from '../../lib/onnx/builder';
import { OrtSession } from '../../lib/onnx/ort';
import {
  BenchOptions,
  BenchRow,
  compareRow,
  measureInterleaved,
  perCall,
  MeasureOptions,
  rateColumns,
  round,
  threadList,
} from './harness';

export interface ConvCase {
  name: string;
  x: [number, number, number, number];
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
  /** Channels per group: depthwise when it equals the input channels. */
  groups?: number;
}

export const convCases: ConvCase[] = [
  { name: '3x3 N8 C64 32x32 -> 64', x: [8, 64, 32, 32], outChannels: 64, kernel: 3, stride: 1, padding: 1 },
  { name: '3x3 N8 C128 16x16 -> 128', x: [8, 128, 16, 16], outChannels: 128, kernel: 3, stride: 1, padding: 1 },
  { name: '3x3 N1 C256 64x64 -> 256', x: [1, 256, 64, 64], outChannels: 256, kernel: 3, stride: 1, padding: 1 },
  {
    name: '3x3 N64 C512 4x4 -> 512 (ResNet stage 4)',
    x: [64, 512, 4, 4],
    outChannels: 512,
    kernel: 3,
    stride: 1,
    padding: 1,
  },
  { name: '1x1 N8 C256 16x16 -> 128', x: [8, 256, 16, 16], outChannels: 128, kernel: 1, stride: 1, padding: 0 },
  // The offset predictors of deformable convs (2 * 9 outputs): the kn2row path.
  {
    name: '3x3 N8 C64 32x32 -> 18 (few outputs)',
    x: [8, 64, 32, 32],
    outChannels: 18,
    kernel: 3,
    stride: 1,
    padding: 1,
  },
  {
    name: '3x3 N64 C256 8x8 -> 18 (few outputs)',
    x: [64, 256, 8, 8],
    outChannels: 18,
    kernel: 3,
    stride: 1,
    padding: 1,
  },
  // Thin layers (native/cpu/conv2d_direct.h): a stem on a 3-channel image, and the first stage
  // of a width-16 ResNet (the main job's networks), by the direct path.
  { name: '3x3 N32 C3 32x32 -> 16 (thin stem)', x: [32, 3, 32, 32], outChannels: 16, kernel: 3, stride: 1, padding: 1 },
  // Depthwise (native/cpu/conv2d_depthwise.h): a MobileNet block's 3x3, stride 1 and 2.
  {
    name: '3x3 depthwise N8 C64 56x56',
    x: [8, 64, 56, 56],
    outChannels: 64,
    kernel: 3,
    stride: 1,
    padding: 1,
    groups: 64,
  },
  {
    name: '3x3 depthwise stride 2 N8 C128 28x28',
    x: [8, 128, 28, 28],
    outChannels: 128,
    kernel: 3,
    stride: 2,
    padding: 1,
    groups: 128,
  },
  // A MobileNet's last stages: rows that fit one vector run from registers.
  {
    name: '3x3 depthwise stride 2 N8 C256 14x14',
    x: [8, 256, 14, 14],
    outChannels: 256,
    kernel: 3,
    stride: 2,
    padding: 1,
    groups: 256,
  },
  {
    name: '3x3 depthwise N8 C512 7x7',
    x: [8, 512, 7, 7],
    outChannels: 512,
    kernel: 3,
    stride: 1,
    padding: 1,
    groups: 512,
  },
  {
    name: '3x3 N32 C16 32x32 -> 16 (thin stage)',
    x: [32, 16, 32, 32],
    outChannels: 16,
    kernel: 3,
    stride: 1,
    padding: 1,
  },
];

function convModel(c: ConvCase, w: Tensor, b: Tensor, relu = false): Uint8Array {
  const [N, C, H, W] = c.x;
  const OH = Math.floor((H + 2 * c.padding - c.kernel) / c.stride) + 1;
  const OW = Math.floor((W + 2 * c.padding - c.kernel) / c.stride) + 1;
  const graph = new OnnxGraphBuilder({ opset: 19 })
    .input('x', [N, C, H, W])
    .initializer('w', w)
    .initializer('b', b)
    .node('Conv', ['x', 'w', 'b'], ['y'], {
      kernel_shape: attr.ints([c.kernel, c.kernel]),
      strides: attr.ints([c.stride, c.stride]),
      pads: attr.ints([c.padding, c.padding, c.padding, c.padding]),
      group: attr.int(c.groups ?? 1),
    });
  if (relu) graph.node('Relu', ['y'], ['z']);
  return graph.output(relu ? 'z' : 'y', [N, c.outChannels, OH, OW]).toBytes();
}

async function convRows(opts: BenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const timing: MeasureOptions = opts.quick
    ? { warmup: 1, iters: 3 }
    : { warmup: 2, targetMs: 2500, minIters: 5, maxIters: 60 };
  const cases = opts.quick ? convCases.slice(0, 2) : convCases;
  for (const c of cases) {
    manualSeed(1);
    const x = Tensor.randn(c.x);
    const groups = c.groups ?? 1;
    const w = Tensor.randn([c.outChannels, c.x[1] / groups, c.kernel, c.kernel], { std: 0.05 });
    const b = Tensor.randn([c.outChannels]);
    const conv = { bias: b, stride: c.stride, padding: c.padding, groups };
    const bytes = convModel(c, w, b);
    const flops =
      (2 * c.x[0] * c.outChannels * (c.x[1] / groups) * c.kernel * c.kernel * c.x[2] * c.x[3]) / (c.stride * c.stride);
    for (const t of threadList(opts)) {
      setNumThreads(t);
      const session = await OrtSession.create(bytes, { threads: t, allowSpinning: false });
      const feeds = session.feeds({ x });
      const forward = () => noGrad(() => ops.conv2d(x, w, conv).dispose());
      const [ours, ort] = await measureInterleaved([forward, () => session.runRaw(feeds)], timing);
      await session.release();
      rows.push(compareRow(`conv2d forward ${c.name}`, t, ours, 'ORT Conv', ort, rateColumns(flops, ours.median, t)));

      const xg = x.detach().requireGrad(),
        wg = w.detach().requireGrad(),
        bg = b.detach().requireGrad();
      const gy = Tensor.randn([c.x[0], c.outChannels, c.x[2] / c.stride, c.x[3] / c.stride].map(Math.ceil));
      const step = () => {
        const y = ops.conv2d(xg, wg, { ...conv, bias: bg });
        y.backward(gy);
        y.dispose();
        for (const p of [xg, wg, bg]) {
          p.grad?.dispose();
          p.grad = null;
        }
      };
      const [both, fwd] = await measureInterleaved([step, forward], timing);
      // Forward, input gradient and weight gradient: three times the forward's arithmetic.
      rows.push(
        compareRow(`conv2d fwd+bwd ${c.name}`, t, both, 'own forward', fwd, {
          'bwd/fwd x': round(both.median / fwd.median, 3),
          ...rateColumns(3 * flops, both.median, t),
        }),
      );
      gy.dispose();
    }
    x.dispose();
    w.dispose();
    b.dispose();
  }
  return rows;
}

// One image through a small network's layers, as inference runs them: conv2dFused with packed
// weights, bias and ReLU against ORT's Conv followed by Relu (which ORT fuses). Tens of
// microseconds each, so a sample is 20 calls; ORT's time includes its session.run (about
// 15 us a call, the pointwise suite's tiny rows). On the VM these rows were first run on, ORT's
// time for the stem changed by 10x from one stretch of a session to the next (75 or 800 us).
const batchOneCases: ConvCase[] = [
  { name: '3x3 N1 C3 32x32 -> 64 (stem)', x: [1, 3, 32, 32], outChannels: 64, kernel: 3, stride: 1, padding: 1 },
  { name: '3x3 N1 C64 32x32 -> 32', x: [1, 64, 32, 32], outChannels: 32, kernel: 3, stride: 1, padding: 1 },
  { name: '3x3 N1 C64 8x8 -> 64', x: [1, 64, 8, 8], outChannels: 64, kernel: 3, stride: 1, padding: 1 },
  { name: '3x3 N1 C256 8x8 -> 256', x: [1, 256, 8, 8], outChannels: 256, kernel: 3, stride: 1, padding: 1 },
];
const BATCH_ONE_CALLS = 20;

async function batchOneRows(opts: BenchOptions): Promise<BenchRow[]> {
  if (opts.quick) return [];
  const rows: BenchRow[] = [];
  const timing: MeasureOptions = { warmup: 3, targetMs: 1500, minIters: 10, maxIters: 200 };
  for (const c of batchOneCases) {
    manualSeed(1);
    const x = Tensor.randn(c.x);
    const w = Tensor.randn([c.outChannels, c.x[1], c.kernel, c.kernel], { std: 0.05 });
    const b = Tensor.randn([c.outChannels]);
    const packed = ops.packConv2dWeight(w);
    const fused = { bias: b, stride: c.stride, padding: c.padding, relu: true, packed };
    const bytes = convModel(c, w, b, true);
    const flops = (2 * c.outChannels * c.x[1] * c.kernel * c.kernel * c.x[2] * c.x[3]) / (c.stride * c.stride);
    for (const t of threadList(opts)) {
      setNumThreads(t);
      const session = await OrtSession.create(bytes, { threads: t, allowSpinning: false });
      const feeds = session.feeds({ x });
      const ours = () =>
        noGrad(() => {
          for (let i = 0; i < BATCH_ONE_CALLS; i++) ops.conv2dFused(x, w, fused).dispose();
        });
      const anchor = async () => {
        for (let i = 0; i < BATCH_ONE_CALLS; i++) await session.runRaw(feeds);
      };
      const [mine, ort] = (await measureInterleaved([ours, anchor], timing)).map((m) => perCall(m, BATCH_ONE_CALLS));
      await session.release();
      rows.push(
        compareRow(`conv2dFused (bias, ReLU) ${c.name}`, t, mine, 'ORT Conv + Relu', ort, {
          'µs per call': round(mine.median * 1e3),
          'anchor µs': round(ort.median * 1e3),
          ...rateColumns(flops, mine.median, t),
        }),
      );
    }
  }
  return rows;
}

/** Row producers of this suite, in order; append yours. */
export const sections: ((opts: BenchOptions) => Promise<BenchRow[]>)[] = [convRows, batchOneRows];

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const saved = getNumThreads();
  const rows: BenchRow[] = [];
  try {
    for (const section of sections) rows.push(...(await section(opts)));
  } finally {
    setNumThreads(saved);
  }
  return rows;
}
