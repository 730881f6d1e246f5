/**
 * Layers suite: batch norm, pooling and resizing against ONNX Runtime's kernels at the same
 * thread count, on the activation shapes of the conv suite; linear layers on a classifier's
 * shapes (nn.Linear in eval mode, its weight packed once, against ORT's Gemm with the weight as
 * an initializer, which ORT packs once too).
 *
 * - eval forward rows: ops under noGrad vs ORT's BatchNormalization / MaxPool / AveragePool /
 *   GlobalAveragePool / Resize (the input is a graph input; ORT allocates its output as we do).
 * - training rows (batch norm, max pool, grid sample, bilinear upsampling, linear): our forward +
 *   backward (autograd included) against ORT's eval forward of the same op, so `vs anchor` says
 *   how many ORT forwards one training step costs (lower than 1.0x is expected: backward reads
 *   and writes twice the memory).
 */
import { Tensor, setNumThreads, getNumThreads, manualSeed, noGrad, tidy, ops, nn } from '../../lib';
import { OnnxGraphBuilder, int64 } from '../../lib/onnx/builder';
import { OrtSession } from '../../lib/onnx/ort';
import { BenchOptions, BenchRow, compareRow, measureInterleaved, threadList } from './harness';

interface LayerCase {
  name: string;
  shape: number[];
  /** flexconv eval forward. */
  ours: (x: Tensor) => Tensor;
  /** ONNX Runtime's op of the anchor column. */
  anchor: string;
  /** The same op as one ONNX node on input 'x', output 'y'. */
  onnx: (b: OnnxGraphBuilder, shape: number[]) => OnnxGraphBuilder;
  /** If set, a training row (forward + backward) is measured too. */
  train?: (x: Tensor) => Tensor;
}

const SHAPES = [
  [8, 64, 32, 32],
  [8, 128, 16, 16],
  [1, 256, 64, 64],
];

function shapeName(s: number[]): string {
  return `N${s[0]} C${s[1]} ${s[2]}x${s[3]}`;
}

function cases(quick: boolean): LayerCase[] {
  const shapes = quick ? [SHAPES[0]] : SHAPES;
  const out: LayerCase[] = [];
  for (const shape of shapes) {
    const C = shape[1];
    const weight = Tensor.randn([C]),
      bias = Tensor.randn([C]);
    const mean = Tensor.randn([C]),
      variance = Tensor.rand([C], { low: 0.5, high: 2 });
    const w = weight.clone().requireGrad(),
      b = bias.clone().requireGrad();
    const rm = Tensor.zeros([C]),
      rv = Tensor.ones([C]);
    out.push({
      anchor: 'BatchNormalization',
      name: `batch_norm ${shapeName(shape)}`,
      shape,
      ours: (x) => ops.batchNorm2d(x, mean, variance, weight, bias),
      onnx: (g) =>
        g
          .initializer('scale', weight)
          .initializer('bias', bias)
          .initializer('mean', mean)
          .initializer('var', variance)
          .node('BatchNormalization', ['x', 'scale', 'bias', 'mean', 'var'], ['y'], { epsilon: 1e-5 }),
      train: (x) => ops.batchNorm2d(x, rm, rv, w, b, { training: true }),
    });
    out.push({
      anchor: 'MaxPool',
      name: `max_pool 3x3 s2 p1 ${shapeName(shape)}`,
      shape,
      ours: (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }),
      onnx: (g) => g.node('MaxPool', ['x'], ['y'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
      train: (x) => ops.maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }),
    });
    out.push({
      anchor: 'MaxPool',
      name: `max_pool 2x2 s2 ${shapeName(shape)}`,
      shape,
      ours: (x) => ops.maxPool2d(x, { kernelSize: 2 }),
      onnx: (g) => g.node('MaxPool', ['x'], ['y'], { kernel_shape: [2, 2], strides: [2, 2] }),
    });
    out.push({
      anchor: 'AveragePool',
      name: `avg_pool 3x3 s1 p1 ${shapeName(shape)}`,
      shape,
      ours: (x) => ops.avgPool2d(x, { kernelSize: 3, stride: 1, padding: 1 }),
      onnx: (g) =>
        g.node('AveragePool', ['x'], ['y'], {
          kernel_shape: [3, 3],
          strides: [1, 1],
          pads: [1, 1, 1, 1],
          count_include_pad: 1,
        }),
    });
    out.push({
      anchor: 'AveragePool',
      name: `avg_pool 2x2 s2 ${shapeName(shape)}`,
      shape,
      ours: (x) => ops.avgPool2d(x, { kernelSize: 2 }),
      onnx: (g) => g.node('AveragePool', ['x'], ['y'], { kernel_shape: [2, 2], strides: [2, 2] }),
    });
    out.push({
      anchor: 'GlobalAveragePool',
      name: `global_avg_pool ${shapeName(shape)}`,
      shape,
      ours: (x) => ops.adaptiveAvgPool2d(x, 1),
      onnx: (g) => g.node('GlobalAveragePool', ['x'], ['y']),
    });
    const grid = Tensor.rand([shape[0], shape[2], shape[3], 2], { low: -1.1, high: 1.1 });
    const gridG = grid.clone().requireGrad();
    out.push({
      anchor: 'GridSample',
      name: `grid_sample bilinear ${shapeName(shape)}`,
      shape,
      ours: (x) => ops.gridSample(x, grid),
      onnx: (g) =>
        g
          .initializer('grid', grid)
          .node('GridSample', ['x', 'grid'], ['y'], { mode: 'bilinear', padding_mode: 'zeros', align_corners: 0 }),
      train: (x) => {
        gridG.grad?.dispose();
        gridG.grad = null;
        return ops.gridSample(x, gridG);
      },
    });
    out.push({
      anchor: 'Resize',
      name: `upsample bilinear 2x ${shapeName(shape)}`,
      shape,
      ours: (x) => ops.interpolate(x, { scaleFactor: 2, mode: 'bilinear' }),
      train: (x) => ops.interpolate(x, { scaleFactor: 2, mode: 'bilinear' }),
      onnx: (g, s) =>
        g
          .initializer('sizes', int64([s[0], s[1], 2 * s[2], 2 * s[3]], [4]))
          .node('Resize', ['x', '', '', 'sizes'], ['y'], {
            mode: 'linear',
            coordinate_transformation_mode: 'pytorch_half_pixel',
          }),
    });
  }
  out.push(...linearCases(quick));
  return out;
}

// A classifier head at batch 1 and 32 (ResNet-18/34: 512 -> 1000), a wider one (ResNet-50's
// 2048 features) at batch 64.
const LINEAR_SHAPES: [number, number, number][] = [
  [1, 512, 1000],
  [32, 512, 1000],
  [64, 2048, 1000],
];

function linearCases(quick: boolean): LayerCase[] {
  return (quick ? LINEAR_SHAPES.slice(0, 1) : LINEAR_SHAPES).map(([rows, inF, outF]) => {
    const evalLayer = new nn.Linear(inF, outF);
    evalLayer.eval();
    const trainLayer = new nn.Linear(inF, outF);
    return {
      anchor: 'Gemm',
      name: `linear [${rows}, ${inF}] -> ${outF}`,
      shape: [rows, inF],
      ours: (x) => evalLayer.forward(x),
      onnx: (g) =>
        g
          .initializer('w', evalLayer.weight)
          .initializer('b', evalLayer.bias!)
          .node('Gemm', ['x', 'w', 'b'], ['y'], { transB: 1 }),
      train: rows > 1 ? (x) => trainLayer.forward(x) : undefined,
    };
  });
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const savedThreads = getNumThreads();
  const rows: BenchRow[] = [];
  manualSeed(1);
  const timing = opts.quick ? { warmup: 1, iters: 3 } : { warmup: 3, targetMs: 1500, minIters: 10, maxIters: 200 };
  try {
    for (const c of cases(opts.quick)) {
      const x = Tensor.randn(c.shape);
      const bytes = c
        .onnx(new OnnxGraphBuilder({ opset: 19 }).input('x', c.shape), c.shape)
        .output('y')
        .toBytes();
      const xg = x.clone().requireGrad();
      const g = c.train ? noGrad(() => c.train!(x)) : null;
      const seed = g ? Tensor.randn(g.shape) : null;
      for (const t of threadList(opts)) {
        setNumThreads(t);
        const session = await OrtSession.create(bytes, { threads: t, allowSpinning: false });
        const feeds = session.feeds({ x });
        const fwd = (): void => tidy(() => void noGrad(() => c.ours(x)));
        const [ours, ort] = await measureInterleaved([fwd, () => session.runRaw(feeds)], timing);
        rows.push(compareRow(`${c.name} (eval fwd)`, t, ours, `ORT ${c.anchor}`, ort));
        if (c.train && seed) {
          const step = (): void =>
            tidy(() => {
              xg.grad?.dispose();
              xg.grad = null;
              c.train!(xg).backward(seed);
            });
          const [train, ort2] = await measureInterleaved([step, () => session.runRaw(feeds)], timing);
          rows.push(
            compareRow(`${c.name} (train fwd+bwd)`, t, train, 'ORT eval fwd', ort2, {
              'vs our fwd': Math.round((train.median / ours.median) * 100) / 100,
            }),
          );
        }
        await session.release();
      }
    }
  } finally {
    setNumThreads(savedThreads);
  }
  return rows;
}
