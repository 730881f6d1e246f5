/**
 * GEMM suite: flexconv's GEMM core against ONNX Runtime's MatMul (MLAS) at the same thread
 * count. Both operands are graph inputs, so ORT packs B on every call just as flexconv does
 * (no constant-weight prepacking on either side). flexconv writes into a preallocated C.
 *
 * Columns: GFLOP/s of flexconv, `vs anchor` = ORT time / flexconv time, and on the 2-thread
 * rows `scaling` = flexconv 1-thread time / 2-thread time (`ORT scaling` the same for ORT).
 */
import { Tensor, setNumThreads, getNumThreads, manualSeed } from '../../lib';
import { gemmInto } from '../../lib/ops/matmul';
import { OnnxGraphBuilder } from '../../lib/onnx/builder';
import { OrtSession } from '../../lib/onnx/ort';
import { BenchOptions, BenchRow, compareRow, measureInterleaved, Measurement, round, threadList } from './harness';

interface Shape {
  name: string;
  M: number;
  K: number;
  N: number;
}

const square = (n: number): Shape => ({ name: `square ${n}`, M: n, K: n, N: n });

function shapes(quick: boolean): Shape[] {
  const convLike: Shape[] = [
    { name: 'conv 64x576x8192', M: 64, K: 576, N: 8192 },
    { name: 'conv 256x2304x4096', M: 256, K: 2304, N: 4096 },
  ];
  if (quick) return [square(256), square(512), convLike[0]];
  return [square(256), square(512), square(1024), square(2048), ...convLike];
}

function matmulModel(s: Shape): Uint8Array {
  return new OnnxGraphBuilder({ opset: 19 })
    .input('a', [s.M, s.K])
    .input('b', [s.K, s.N])
    .node('MatMul', ['a', 'b'], ['c'])
    .output('c', [s.M, s.N])
    .toBytes();
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const savedThreads = getNumThreads();
  const rows: BenchRow[] = [];
  manualSeed(1);
  try {
    for (const s of shapes(opts.quick)) {
      const a = Tensor.randn([1, s.M, s.K]);
      const b = Tensor.randn([1, s.K, s.N]);
      const c = Tensor.empty([1, s.M, s.N]);
      const a2 = a.view([s.M, s.K]),
        b2 = b.view([s.K, s.N]);
      const flops = 2 * s.M * s.N * s.K;
      const bytes = matmulModel(s);
      const byThreads = new Map<number, Measurement>();
      const ortByThreads = new Map<number, Measurement>();
      for (const t of threadList(opts)) {
        setNumThreads(t);
        // Spinning ORT workers would steal the cores from the interleaved flexconv runs.
        const session = await OrtSession.create(bytes, { threads: t, allowSpinning: false });
        const feeds = session.feeds({ a: a2, b: b2 });
        const [ours, ort] = await measureInterleaved(
          [() => gemmInto(a, b, c, false, false, 1, 0), () => session.runRaw(feeds)],
          opts.quick ? { warmup: 1, iters: 3 } : { warmup: 2, targetMs: 3000, minIters: 5, maxIters: 100 },
        );
        await session.release();
        byThreads.set(t, ours);
        ortByThreads.set(t, ort);
        const one = byThreads.get(1);
        const ortOne = ortByThreads.get(1);
        rows.push(
          compareRow(`${s.name} (M=${s.M} K=${s.K} N=${s.N})`, t, ours, 'ORT MatMul', ort, {
            'GFLOP/s': round(flops / (ours.median * 1e6), 3),
            'ORT GFLOP/s': round(flops / (ort.median * 1e6), 3),
            scaling: t > 1 && one ? round(one.median / ours.median, 3) : null,
            // ORT's own 2-vs-1 thread scaling: on a shared machine it shows how much of the
            // second core was really available during the run.
            'ORT scaling': t > 1 && ortOne ? round(ortOne.median / ort.median, 3) : null,
          }),
        );
      }
      a.dispose();
      b.dispose();
      c.dispose();
    }
  } finally {
    setNumThreads(savedThreads);
  }
  return rows;
}
