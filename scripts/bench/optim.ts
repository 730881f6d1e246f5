/**
 * Optimizer suite (`npm run bench -- optim`): one step of SGD (momentum, weight decay), Adam
 * and AdamW (AMSGrad) over a ResNet-18-sized parameter set (11.7M floats in 62 tensors of
 * ResNet-18's sizes), and a 1M-float single tensor.
 *
 * Anchor: the same update written as a plain JavaScript loop over the Float32Arrays (what a
 * library without a fused kernel does), measured interleaved in the same run.
 */
import { getNumThreads, manualSeed, setNumThreads, Tensor } from '../../lib';
import { Parameter } from '../../lib/nn';
import { Adam, AdamW, Optimizer, SGD } from '../../lib/optim';
import { BenchOptions, BenchRow, compareRow, measureInterleaved, threadList } from './harness';

// ResNet-18 (ImageNet) parameter tensor sizes, conv weights and BN/linear vectors.
function resnet18Sizes(): number[] {
  const sizes = [64 * 3 * 49, 64, 64];
  const stage = (cin: number, cout: number, down: boolean) => {
    for (let b = 0; b < 2; b++) {
      const i = b === 0 ? cin : cout;
      sizes.push(cout * i * 9, cout, cout, cout * cout * 9, cout, cout);
      if (b === 0 && down) sizes.push(cout * cin, cout, cout);
    }
  };
  stage(64, 64, false);
  stage(64, 128, true);
  stage(128, 256, true);
  stage(256, 512, true);
  sizes.push(1000 * 512, 1000);
  return sizes;
}

interface Case {
  name: string;
  make: (ps: Parameter[]) => Optimizer;
  loop: (p: Float32Array, g: Float32Array, s: Float32Array[], step: number) => void;
  states: number;
}

const lr = 1e-3,
  wd = 1e-4,
  mom = 0.9,
  b1 = 0.9,
  b2 = 0.999,
  eps = 1e-8;

function adamLoop(decoupled: boolean, amsgrad: boolean) {
  return (p: Float32Array, g: Float32Array, [m, v, vmax]: Float32Array[], t: number): void => {
    const stepSize = lr / (1 - b1 ** t);
    const invBc2 = 1 / Math.sqrt(1 - b2 ** t);
    const decay = decoupled ? 1 - lr * wd : 1;
    const l2 = decoupled ? 0 : wd;
    for (let i = 0; i < p.length; i++) {
      const pi = p[i] * decay;
      const gi = g[i] + l2 * pi;
      const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
      let vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
      if (amsgrad) vi = vmax[i] = Math.max(vmax[i], vi);
      p[i] = pi - (stepSize * mi) / (Math.sqrt(vi) * invBc2 + eps);
    }
  };
}

const cases: Case[] = [
  {
    name: 'SGD momentum 0.9, wd',
    make: (ps) => new SGD(ps, { lr, momentum: mom, weightDecay: wd }),
    loop: (p, g, [b]) => {
      for (let i = 0; i < p.length; i++) {
        const d = g[i] + wd * p[i];
        const m = (b[i] = mom * b[i] + d);
        p[i] -= lr * m;
      }
    },
    states: 1,
  },
  { name: 'Adam, wd', make: (ps) => new Adam(ps, { lr, weightDecay: wd }), loop: adamLoop(false, false), states: 2 },
  {
    name: 'AdamW amsgrad',
    make: (ps) => new AdamW(ps, { lr, weightDecay: wd, amsgrad: true }),
    loop: adamLoop(true, true),
    states: 3,
  },
];

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const saved = getNumThreads();
  const rows: BenchRow[] = [];
  const timing = opts.quick ? { warmup: 1, iters: 3 } : { warmup: 2, targetMs: 3000, minIters: 5, maxIters: 30 };
  const sets: [string, number[]][] = opts.quick
    ? [['1M floats x1', [1 << 20]]]
    : [
        ['ResNet-18 11.7M floats x62', resnet18Sizes()],
        ['1M floats x1', [1 << 20]],
      ];
  try {
    for (const [setName, sizes] of sets) {
      manualSeed(1);
      const params = sizes.map((n) => new Parameter(Tensor.randn([n], { std: 0.05 })));
      for (const p of params) p.grad = Tensor.randn(p.shape, { std: 0.01 });
      for (const c of cases) {
        const opt = c.make(params);
        const host = params.map(() => Array.from({ length: c.states }, () => null as Float32Array | null));
        let t = 0;
        const jsStep = () => {
          t++;
          params.forEach((p, i) => {
            const states = host[i].map((s, k) => (host[i][k] = s ?? new Float32Array(p.numel)));
            c.loop(p.data, p.grad!.data, states, t);
          });
        };
        for (const threads of threadList(opts)) {
          setNumThreads(threads);
          const [ours, anchor] = await measureInterleaved([() => opt.step(), jsStep], timing);
          rows.push(compareRow(`${c.name}, ${setName}`, threads, ours, 'JS Float32Array loop', anchor));
        }
      }
    }
  } finally {
    setNumThreads(saved);
  }
  return rows;
}
