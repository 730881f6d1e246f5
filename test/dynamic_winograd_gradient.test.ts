/**
 * dynamicConv2d's expert and attention gradients in Winograd's transformed domain
 * (native/cpu/dynamic_conv2d_reduce.cc): per sample and point, dU_b = Z_b V_b^T is reduced at
 * once into the experts' S_k += attention[b, k] dU_b and the attention's <dU_b, U_k>, and only
 * the K expert gradients are transformed back (dW = G^T S G). It takes images of 64 F(4x4, 3x3)
 * tiles (32x32 maps), else 64 F(2x2, 3x3) tiles (16x16 maps). Checked against the float64
 * per-sample definition, for the same bits at 1, 2 and 3 threads (2: the two halves of the batch
 * in parallel; 3: one after the other, their points spread over the threads), and for the path
 * itself where it is F(4x4, 3x3): those transforms round, so the error is several times the direct
 * reduction's (measured under the AVX2 cap, where no Winograd copy exists). A NaN takes the direct
 * reduction, which propagates it as PyTorch does.
 */
import * as ops from '../lib/ops';
import { manualSeed } from '../lib/random';
import { getNumThreads, setNumThreads } from '../lib/system';
import { Tensor } from '../lib/tensor';
import { DynGeom } from './reference/dynamic_conv';
import {
  describeWinograd,
  directConv,
  DynamicRun,
  dynamicInputs,
  dynamicRunsAgainstReference,
} from './winograd_helpers';

// F(4x4, 3x3)'s transforms divide by 6, 12 and 24 (test/winograd4.test.ts bounds its error by
// the same figure).
const TOLERANCE = 2e-5;

function geometry(B: number, size: number, C: number, O: number, K: number): DynGeom {
  const one: [number, number] = [1, 1];
  return { B, C, H: size, W: size, K, O, kh: 3, kw: 3, stride: one, padding: one, dilation: one, groups: 1 };
}

describeWinograd('test/dynamic_winograd_gradient.test.ts')(
  'dynamicConv2d kernel gradients in the Winograd domain',
  () => {
    const threads = getNumThreads();
    afterEach(() => setNumThreads(threads));

    // f4: the path shows in the rounding (F(2x2, 3x3)'s transforms are exact in binary, so its
    // error is the direct reduction's: there the two paths cannot be told apart).
    const cases: { name: string; g: DynGeom; f4: boolean }[] = [
      // 5 samples: halves of 3 and 2, groups of two samples and a last group of one.
      { name: 'F(4x4): 5 samples of 32x32, 32 -> 48 channels, 3 experts', g: geometry(5, 32, 32, 48, 3), f4: true },
      // 30x30 outputs: the last F(4x4) tile of each row and column is partial (8 x 8 tiles).
      {
        name: 'F(4x4): 4 samples of 30x30 (partial tiles), 48 -> 32 channels, 2 experts',
        g: geometry(4, 30, 48, 32, 2),
        f4: true,
      },
      { name: 'F(2x2): 3 samples of 16x16, 32 -> 40 channels, 4 experts', g: geometry(3, 16, 32, 40, 4), f4: false },
      // One sample: the second half of the batch is empty.
      { name: 'F(2x2): 1 sample of 16x16, 32 -> 32 channels, 1 expert', g: geometry(1, 16, 32, 32, 1), f4: false },
    ];
    for (const { name, g, f4 } of cases) {
      test(`${name}: every gradient equals the float64 definition, the same bits at 1, 2 and 3 threads${f4 ? ', rounded as F(4x4) rounds' : ''}`, () => {
        manualSeed(g.B * 100 + g.H);
        const t = dynamicInputs(g);
        const gradOut = Tensor.randn([g.B, g.O, g.H, g.W]);
        const runs = dynamicRunsAgainstReference(g, t, gradOut, TOLERANCE, [1, 2, 3]);
        expect(runs[1].values).toEqual(runs[0].values);
        expect(runs[2].values).toEqual(runs[0].values);
        if (!f4) return;
        let direct!: DynamicRun;
        directConv(() => {
          [direct] = dynamicRunsAgainstReference(g, t, gradOut, TOLERANCE, [1]);
          return gradOut;
        });
        // The direct reduction sums exact products in float32 (~1e-7 of the scale); Winograd's
        // transformed products round on the way (3e-6 to 4e-6 here, 6-13x the direct error).
        expect(runs[0].errors.experts).toBeGreaterThan(4 * direct.errors.experts);
        expect(runs[0].errors.attention).toBeGreaterThan(4 * direct.errors.attention);
      });
    }

    test('a NaN in the output gradient propagates as the direct reduction propagates it', () => {
      const g = geometry(2, 32, 32, 32, 2);
      manualSeed(7);
      const t = dynamicInputs(g);
      const gradOut = Tensor.randn([g.B, g.O, g.H, g.W]);
      gradOut.data[(1 * g.O + 3) * g.H * g.W + 5 * g.W + 9] = Number.NaN;
      const gradients = (direct: boolean) => {
        for (const p of Object.values(t)) p.grad = null;
        const run = () => {
          const out = ops.dynamicConv2d(t.input, t.experts, t.attention, { expertBias: t.expertBias, padding: 1 });
          out.backward(gradOut);
          return out;
        };
        if (direct) directConv(run);
        else run();
        return [t.experts.grad!, t.attention.grad!].map((v) => Array.from(v.data, (x) => Number.isNaN(x)));
      };
      const [experts, attention] = gradients(false);
      const [directExperts, directAttention] = gradients(true);
      expect(experts).toEqual(directExperts);
      expect(attention).toEqual(directAttention);
      expect(experts.some((x) => x)).toBe(true);
    });
  },
);
