/**
 * Octave suite (`npm run bench -- octave`): an OctaveConv2d with alpha 0.5 against a plain
 * Conv2d of the same channels (the layer it replaces), forward and forward+backward,
 * interleaved in the same run; and an FPN forward+backward over a ResNet-like pyramid
 * against the plain 3x3 convs of its levels (what the pyramid adds on top of a backbone).
 *
 * Theory says an alpha-0.5 octave conv needs 0.44x the FLOPs of the plain conv; the goal is
 * wall time <= 0.6x.
 */
import { getNumThreads, manualSeed, nn, noGrad, ops, setNumThreads, Tensor, tidy } from '../../lib';
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

type Runnable = { forward(x: Tensor): Tensor };

/** forward, then backward of the sum of every output; frees what it made. */
function trainStep(module: nn.Module, run: () => Tensor[]): () => void {
  return () =>
    tidy(() => {
      const outs = run();
      outs
        .map((y) => ops.sum(y))
        .reduce((a, b) => ops.add(a, b))
        .backward();
      module.zeroGrad();
    });
}

function octaveRows(sizes: number[], batch: number, timing: MeasureOptions, threads: number[]): Promise<BenchRow[]> {
  return (async () => {
    const rows: BenchRow[] = [];
    for (const size of sizes) {
      manualSeed(2);
      const channels = 64;
      const plain = new nn.Conv2d(channels, channels, { kernelSize: 3, padding: 1, bias: false });
      const octave = new nn.OctaveConv2d(channels, channels, {
        kernelSize: 3,
        padding: 1,
        alphaIn: 0.5,
        alphaOut: 0.5,
      });
      const x = Tensor.randn([batch, channels, size, size]);
      const high = Tensor.randn([batch, octave.inHigh, size, size]);
      const low = Tensor.randn([batch, octave.inLow, size / 2, size / 2]);
      const name = `alpha 0.5, N${batch} C${channels} ${size}x${size} -> ${channels}`;
      // The octave layer's own convolutions: high -> high at full size, (low, pooled high) -> low
      // and low -> high at half size.
      const half = (size / 2) * (size / 2);
      const flops =
        convFlops(batch, octave.outHigh, octave.inHigh, 9, size * size) +
        convFlops(batch, octave.outLow, octave.inLow + octave.inHigh, 9, half) +
        convFlops(batch, octave.outHigh, octave.inLow, 9, half);
      for (const t of threads) {
        setNumThreads(t);
        const fwdPlain = () => noGrad(() => plain.forward(x).dispose());
        const fwdOctave = () =>
          noGrad(() => {
            const [h, l] = octave.forward([high, low]);
            h.dispose();
            l?.dispose();
          });
        const [oct, ref] = await measureInterleaved([fwdOctave, fwdPlain], timing);
        rows.push(
          compareRow(`octave forward ${name}`, t, oct, 'Conv2d forward', ref, {
            'time / plain x': round(oct.median / ref.median, 3),
            ...rateColumns(flops, oct.median, t),
          }),
        );

        const xg = x.detach().requireGrad();
        const hg = high.detach().requireGrad(),
          lg = low.detach().requireGrad();
        const stepPlain = trainStep(plain, () => [(plain as Runnable).forward(xg)]);
        const stepOctave = trainStep(octave, () => octave.forward([hg, lg]).filter((v): v is Tensor => v !== null));
        const [octB, refB] = await measureInterleaved([stepOctave, stepPlain], timing);
        rows.push(
          compareRow(`octave fwd+bwd ${name}`, t, octB, 'Conv2d fwd+bwd', refB, {
            'time / plain x': round(octB.median / refB.median, 3),
            ...rateColumns(3 * flops, octB.median, t),
          }),
        );
      }
    }
    return rows;
  })();
}

async function fpnRows(batch: number, timing: MeasureOptions, threads: number[]): Promise<BenchRow[]> {
  manualSeed(4);
  // ResNet-18 stages C2..C5 for a 128x128 input.
  const inChannels = [64, 128, 256, 512];
  const sizes = [32, 16, 8, 4];
  const fpn = new nn.FeaturePyramidNetwork(inChannels, 128, { extraBlocks: new nn.LastLevelMaxPool() });
  const features = inChannels.map((c, i) => Tensor.randn([batch, c, sizes[i], sizes[i]]).requireGrad());
  // Anchor: one plain 3x3 conv per level at the pyramid width (the smoothing convs alone).
  const plain = inChannels.map(() => new nn.Conv2d(128, 128, { kernelSize: 3, padding: 1 }));
  const plainInputs = sizes.map((s) => Tensor.randn([batch, 128, s, s]).requireGrad());
  const rows: BenchRow[] = [];
  for (const t of threads) {
    setNumThreads(t);
    const stepFpn = trainStep(fpn, () => fpn.forward(features) as Tensor[]);
    const stepPlain = () => plain.forEach((conv, i) => trainStep(conv, () => [conv.forward(plainInputs[i])])());
    const [f, p] = await measureInterleaved([stepFpn, stepPlain], timing);
    rows.push(
      compareRow(
        `FPN fwd+bwd C2..C5 [64,128,256,512] ${sizes.join('/')}px -> 128, N${batch}`,
        t,
        f,
        '4 plain 3x3 convs fwd+bwd',
        p,
        {
          'time / plain x': round(f.median / p.median, 3),
        },
      ),
    );
  }
  return rows;
}

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const saved = getNumThreads();
  const timing: MeasureOptions = opts.quick
    ? { warmup: 1, iters: 3 }
    : { warmup: 2, targetMs: 3000, minIters: 5, maxIters: 40 };
  const threads = threadList(opts);
  try {
    return [
      ...(await octaveRows(opts.quick ? [32] : [32, 64], opts.quick ? 2 : 8, timing, threads)),
      ...(await fpnRows(opts.quick ? 2 : 8, timing, threads)),
    ];
  } finally {
    setNumThreads(saved);
  }
}
