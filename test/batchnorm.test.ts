import { nn, ops, Tensor, manualSeed, setNumThreads, getNumThreads, ShapeError, ArgumentError } from '../lib';
import { expectCudaMatchesCpu } from './device_compare';
import { OnnxGraphBuilder } from '../lib/onnx/builder';
import { Generator } from '../lib/random';
import { runOnnx } from '../lib/onnx/ort';
import { expectClose, describeCuda, forEachIsa } from './helpers';
import { referenceBatchNorm, referenceBatchNormBackward } from './reference/batchnorm';
import { numericGrad } from './reference/numeric_grad';
import { gradcheck } from './gradcheck';

const shapes: number[][] = [
  [2, 3, 5, 7],
  [1, 4, 3, 3],
  [8, 5, 1, 1],
  [3, 2, 1, 9],
];

function seedGrad(shape: number[]): Tensor {
  return Tensor.randn(shape);
}

describe('batchNorm2d forward', () => {
  beforeEach(() => manualSeed(3));

  test('training: batch statistics, running stats updated in place (affine and not)', () => {
    for (const shape of shapes) {
      for (const affine of [true, false]) {
        const C = shape[1];
        const x = Tensor.randn(shape, { mean: 0.5, std: 2 });
        const rm = Tensor.randn([C]),
          rv = Tensor.rand([C], { low: 0.5, high: 2 });
        const w = affine ? Tensor.randn([C]) : null,
          b = affine ? Tensor.randn([C]) : null;
        const want = referenceBatchNorm(
          x.data,
          shape,
          rm.data,
          rv.data,
          w?.data ?? null,
          b?.data ?? null,
          true,
          0.3,
          1e-5,
        );
        const y = ops.batchNorm2d(x, rm, rv, w, b, { training: true, momentum: 0.3 });
        expectClose(y.data, want.y, 2e-5, 2e-5);
        expectClose(rm.data, want.runningMean as Float64Array, 1e-5, 1e-5);
        expectClose(rv.data, want.runningVar as Float64Array, 1e-5, 1e-5);
      }
    }
  });

  test('training on large planes far from zero keeps its accuracy (blocked sums)', () => {
    const shape = [2, 2, 70, 90];
    const x = Tensor.randn(shape, { mean: 1000, std: 0.5 });
    const want = referenceBatchNorm(x.data, shape, null, null, null, null, true, 0.1, 1e-5);
    expectClose(ops.batchNorm2d(x, null, null, null, null, { training: true }).data, want.y, 5e-3, 0);
  });

  test('training without running statistics', () => {
    const x = Tensor.randn([2, 3, 4, 5]);
    const want = referenceBatchNorm(x.data, x.shape, null, null, null, null, true, 0.1, 1e-3);
    expectClose(ops.batchNorm2d(x, null, null, null, null, { training: true, eps: 1e-3 }).data, want.y, 2e-5, 2e-5);
  });

  test('eval: running statistics, matches the reference and ONNX Runtime BatchNormalization', async () => {
    for (const shape of [
      [2, 3, 5, 7],
      [1, 6, 4, 4],
    ]) {
      const C = shape[1];
      const x = Tensor.randn(shape);
      const rm = Tensor.randn([C]),
        rv = Tensor.rand([C], { low: 0.2, high: 3 });
      const w = Tensor.randn([C]),
        b = Tensor.randn([C]);
      const rm0 = rm.toArray();
      const y = ops.batchNorm2d(x, rm, rv, w, b, { eps: 1e-4 });
      expect(rm.toArray()).toEqual(rm0); // eval never updates
      expectClose(
        y.data,
        referenceBatchNorm(x.data, shape, rm.data, rv.data, w.data, b.data, false, 0.1, 1e-4).y,
        1e-5,
        1e-5,
      );
      const bytes = new OnnxGraphBuilder({ opset: 15 })
        .input('x', shape)
        .initializer('scale', w)
        .initializer('bias', b)
        .initializer('mean', rm)
        .initializer('var', rv)
        .node('BatchNormalization', ['x', 'scale', 'bias', 'mean', 'var'], ['y'], { epsilon: 1e-4 })
        .output('y')
        .toBytes();
      const { y: ort } = await runOnnx(bytes, { x }, { threads: 1 });
      expectClose(y.data, ort.data, 1e-5, 1e-5);
    }
  });

  test('bit-identical at 1 and 2 threads', () => {
    const threads = getNumThreads();
    try {
      const x = Tensor.randn([4, 6, 9, 11]);
      const run = (t: number): number[][] => {
        setNumThreads(t);
        const rm = Tensor.zeros([6]),
          rv = Tensor.ones([6]);
        const xi = x.clone().requireGrad();
        const w = Tensor.ones([6]).requireGrad();
        const y = ops.batchNorm2d(xi, rm, rv, w, null, { training: true });
        y.backward(Tensor.full(y.shape, 0.5).clone());
        return [y.toArray(), rm.toArray(), rv.toArray(), (xi.grad as Tensor).toArray(), (w.grad as Tensor).toArray()];
      };
      expect(run(2)).toEqual(run(1));
    } finally {
      setNumThreads(threads);
    }
  });
});

describe('batchNorm2d backward against finite differences of the float64 reference', () => {
  beforeEach(() => manualSeed(5));

  for (const training of [true, false]) {
    test(`${training ? 'training' : 'eval'}: gradients of x, weight and bias`, () => {
      for (const shape of [
        [2, 3, 3, 4],
        [1, 2, 1, 5],
        [3, 2, 1, 1],
      ]) {
        const C = shape[1];
        const x = Tensor.randn(shape, { requiresGrad: true });
        const w = Tensor.randn([C], { requiresGrad: true }),
          b = Tensor.randn([C], { requiresGrad: true });
        const rm = Tensor.randn([C]),
          rv = Tensor.rand([C], { low: 0.5, high: 2 });
        const rm0 = rm.toArray(),
          rv0 = rv.toArray();
        const y = ops.batchNorm2d(x, rm, rv, w, b, { training, eps: 1e-3 });
        const g = seedGrad(shape);
        y.backward(g);
        const f = ([xx, ww, bb]: Float64Array[]): Float64Array =>
          referenceBatchNorm(xx, shape, rm0, rv0, ww, bb, training, 0.1, 1e-3).y;
        const inputs = [x.data, w.data, b.data];
        expectClose((x.grad as Tensor).data, numericGrad(f, inputs, g.data, 0), 1e-4, 1e-3);
        expectClose((w.grad as Tensor).data, numericGrad(f, inputs, g.data, 1), 1e-4, 1e-3);
        expectClose((b.grad as Tensor).data, numericGrad(f, inputs, g.data, 2), 1e-4, 1e-3);
      }
    });
  }

  test('only x requires grad (no affine)', () => {
    const x = Tensor.randn([2, 3, 2, 3], { requiresGrad: true });
    const y = ops.batchNorm2d(x, null, null, null, null, { training: true });
    const g = seedGrad([...x.shape]);
    y.backward(g);
    const f = ([xx]: Float64Array[]): Float64Array =>
      referenceBatchNorm(xx, x.shape, null, null, null, null, true, 0.1, 1e-5).y;
    expectClose((x.grad as Tensor).data, numericGrad(f, [x.data], g.data, 0), 1e-4, 1e-3);
  });
});

describe('batchNorm2d with the residual block epilogue, relu?(bn(x) + residual?)', () => {
  beforeEach(() => manualSeed(5));

  /** Forward and every gradient through the op, on copies of the running statistics. */
  function run(fused: boolean, training: boolean, withResidual: boolean, relu: boolean) {
    manualSeed(6);
    const [N, C, H, W] = [4, 6, 5, 7];
    const x = Tensor.randn([N, C, H, W], { mean: 0.3, std: 1.5 }).requireGrad();
    const w = Tensor.randn([C]).requireGrad();
    const b = Tensor.randn([C]).requireGrad();
    const r = withResidual ? Tensor.randn([N, C, H, W]).requireGrad() : null;
    const rm = Tensor.randn([C]);
    const rv = Tensor.rand([C], { low: 0.5, high: 2 });
    const gy = Tensor.randn([N, C, H, W]);
    const options = { training, momentum: 0.1, eps: 1e-5 };
    const y = fused
      ? ops.batchNorm2d(x, rm, rv, w, b, { ...options, residual: r, relu })
      : (() => {
          const bn = ops.batchNorm2d(x, rm, rv, w, b, options);
          const sum = r ? ops.add(bn, r) : bn;
          return relu ? ops.relu(sum) : sum;
        })();
    y.backward(gy);
    return [y, x.grad!, w.grad!, b.grad!, r?.grad ?? null, rm, rv].map((t) => (t ? Array.from(t.data) : null));
  }

  for (const training of [true, false]) {
    for (const [withResidual, relu] of [
      [true, true],
      [false, true],
      [true, false],
    ] as const) {
      test(`${training ? 'training' : 'eval'}, ${withResidual ? 'residual' : 'no residual'}, ${relu ? 'relu' : 'no relu'}: the same bits as the separate ops (output, gradients, running statistics)`, () => {
        const fused = run(true, training, withResidual, relu);
        const separate = run(false, training, withResidual, relu);
        expect(fused).toEqual(separate);
        // Some outputs were clipped: the mask took part.
        if (relu) expect(fused[0]!.filter((v) => v === 0).length).toBeGreaterThan(10);
      });
    }
  }

  test('the ReLU mask matches the separate ops where NaN and inf pass through', () => {
    const x = Tensor.randn([2, 3, 4, 4]).requireGrad();
    const r = Tensor.randn([2, 3, 4, 4]);
    r.data[5] = Number.NaN;
    r.data[40] = Number.POSITIVE_INFINITY;
    r.data[41] = Number.NEGATIVE_INFINITY;
    const gy = Tensor.randn([2, 3, 4, 4]);
    const fused = ops.batchNorm2d(x, null, null, null, null, { training: true, residual: r, relu: true });
    fused.backward(gy);
    const gFused = Array.from(x.grad!.data);
    x.grad = null;
    const separate = ops.relu(ops.add(ops.batchNorm2d(x, null, null, null, null, { training: true }), r));
    separate.backward(gy);
    expect(Array.from(fused.data)).toEqual(Array.from(separate.data));
    expect(gFused).toEqual(Array.from(x.grad!.data));
  });

  test('nn.BatchNorm2d.forwardWithEpilogue: the module and its running statistics as forward + add + relu; a subclass overriding forward keeps it', () => {
    const x = Tensor.randn([3, 4, 5, 5]);
    const r = Tensor.randn([3, 4, 5, 5]);
    const fused = new nn.BatchNorm2d(4);
    const separate = new nn.BatchNorm2d(4);
    const a = fused.forwardWithEpilogue(x, { residual: r, relu: true });
    const b = ops.relu(ops.add(separate.forward(x), r));
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(fused.runningVar!.data)).toEqual(Array.from(separate.runningVar!.data));
    expect(fused.numBatchesTracked).toBe(1);
    class Doubled extends nn.BatchNorm2d {
      override forward(t: Tensor): Tensor {
        return ops.mul(super.forward(t), Tensor.from([2]));
      }
    }
    const doubled = new Doubled(4).forwardWithEpilogue(x, { relu: true });
    const expected = ops.relu(ops.mul(new nn.BatchNorm2d(4).forward(x), Tensor.from([2])));
    expect(Array.from(doubled.data)).toEqual(Array.from(expected.data));
  });

  test('only the residual wants a gradient: the masked incoming gradient, as through add and relu', () => {
    const x = Tensor.randn([2, 3, 4, 4]);
    const r = Tensor.randn([2, 3, 4, 4]).requireGrad();
    const gy = Tensor.randn([2, 3, 4, 4]);
    ops.batchNorm2d(x, null, null, null, null, { training: true, residual: r, relu: true }).backward(gy);
    const fused = Array.from(r.grad!.data);
    r.grad = null;
    ops.relu(ops.add(ops.batchNorm2d(x, null, null, null, null, { training: true }), r)).backward(gy);
    expect(fused).toEqual(Array.from(r.grad!.data));
    expect(fused.filter((v) => v === 0).length).toBeGreaterThan(5);
  });

  test('bad residual and relu options are clear errors', () => {
    const x = Tensor.zeros([2, 3, 4, 4]);
    expect(() =>
      ops.batchNorm2d(x, null, null, null, null, { training: true, residual: Tensor.zeros([2, 3, 4]) }),
    ).toThrow(/batchNorm2d: expected residual of the output's shape \[2, 3, 4, 4\] but received \[2, 3, 4\]/);
    expect(() =>
      ops.batchNorm2d(x, null, null, null, null, { training: true, relu: 'yes' as unknown as boolean }),
    ).toThrow(/batchNorm2d: expected relu to be a boolean but received/);
  });
});

describe('batchNorm2d errors', () => {
  const x = Tensor.zeros([2, 3, 4, 4]);
  test('wrong ndim', () => {
    expect(() => ops.batchNorm2d(Tensor.zeros([2, 3, 4]), null, null, null, null, { training: true })).toThrow(
      ShapeError,
    );
    expect(() => ops.batchNorm2d(Tensor.zeros([2, 3, 4]), null, null, null, null, { training: true })).toThrow(
      /4 dimensions.*\[2, 3, 4\]/,
    );
  });
  test('channel counts of running stats, weight and bias', () => {
    expect(() => ops.batchNorm2d(x, Tensor.zeros([4]), Tensor.ones([3]))).toThrow(
      /runningMean of shape \[3\].*received \[4\]/,
    );
    expect(() => ops.batchNorm2d(x, Tensor.zeros([3]), Tensor.ones([3]), Tensor.ones([2]))).toThrow(
      /weight of shape \[3\]/,
    );
    expect(() => ops.batchNorm2d(x, Tensor.zeros([3]), Tensor.ones([3]), null, Tensor.ones([3, 1]))).toThrow(
      ShapeError,
    );
  });
  test('eval needs running statistics; training needs more than one value per channel', () => {
    expect(() => ops.batchNorm2d(x, null, null)).toThrow(ArgumentError);
    expect(() => ops.batchNorm2d(Tensor.zeros([1, 3, 1, 1]), null, null, null, null, { training: true })).toThrow(
      /more than 1 value per channel/,
    );
  });
  test('bad momentum and eps', () => {
    expect(() => ops.batchNorm2d(x, null, null, null, null, { training: true, momentum: 2 })).toThrow(
      /momentum.*\[0, 1\].*2 of type number/,
    );
    expect(() => ops.batchNorm2d(x, null, null, null, null, { training: true, eps: -1 })).toThrow(ArgumentError);
  });
});

const gpu = describeCuda('batchnorm.test');
gpu('batchNorm2d on CUDA', () => {
  test('training and eval forward, gradients and running statistics match the CPU', () => {
    manualSeed(9);
    const x = Tensor.randn([3, 5, 7, 6]),
      w = Tensor.randn([5]),
      b = Tensor.randn([5]);
    for (const training of [true, false]) {
      const rmCpu = Tensor.randn([5]),
        rvCpu = Tensor.rand([5], { low: 0.5, high: 2 });
      const rmGpu = rmCpu.to('cuda'),
        rvGpu = rvCpu.to('cuda');
      expectCudaMatchesCpu(
        (xi, wi, bi) =>
          xi.device === 'cpu'
            ? ops.batchNorm2d(xi, rmCpu, rvCpu, wi, bi, { training })
            : ops.batchNorm2d(xi, rmGpu, rvGpu, wi, bi, { training }),
        [x, w, b],
        [true, true, true],
      );
      expectClose(rmGpu.toArray(), rmCpu.toArray(), 1e-5, 1e-5);
      expectClose(rvGpu.toArray(), rvCpu.toArray(), 1e-5, 1e-5);
    }
  });
});

test('batchNorm2d passes gradcheck on the float32 op itself (training and eval)', () => {
  manualSeed(8);
  for (const training of [true, false]) {
    const rm = Tensor.randn([3]),
      rv = Tensor.rand([3], { low: 0.5, high: 2 });
    gradcheck(
      (x, w, b) => ops.batchNorm2d(x, rm.clone(), rv.clone(), w, b, { training }),
      [
        Tensor.randn([2, 3, 3, 2], { requiresGrad: true }),
        Tensor.randn([3], { requiresGrad: true }),
        Tensor.randn([3], { requiresGrad: true }),
      ],
    );
  }
});

describe('batchNorm2d backward against the analytic float64 backward at a large element count', () => {
  // 18,432 values per channel: an error of 1 / count in the statistics (a /count -> /(count - 1)
  // slip) moves results by ~5e-5 relative, five times the tolerance.
  const [N, C, H, W] = [8, 3, 48, 48];
  const eps = 1e-5;
  test.each([true, false])('training %s: dx, dweight, dbias within 1e-5', (training) => {
    const gen = new Generator(5);
    const x = Tensor.from(
      Float32Array.from({ length: N * C * H * W }, () => gen.normal() * 2 + 0.7),
      [N, C, H, W],
    ).requireGrad();
    const w = Tensor.from([0.5, 1.5, -1.2]).requireGrad();
    const b = Tensor.from([0.1, -0.3, 0.2]).requireGrad();
    const rm = Tensor.from([0.6, 0.8, 0.5]),
      rv = Tensor.from([3.5, 4.5, 4.2]);
    const rmBefore = rm.toArray(),
      rvBefore = rv.toArray();
    const g = Tensor.from(
      Float32Array.from({ length: N * C * H * W }, () => gen.normal()),
      [N, C, H, W],
    );
    ops.batchNorm2d(x, rm, rv, w, b, { training, eps }).backward(g);
    const { dx, dw, db } = referenceBatchNormBackward(
      x.data,
      g.data,
      x.shape,
      w.data,
      training,
      rmBefore,
      rvBefore,
      eps,
    );
    const scale = (a: Float64Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose(x.grad!.data, dx, 1e-5 * scale(dx), 1e-5);
    expectClose(w.grad!.data, dw, 1e-5 * scale(dw), 1e-5);
    expectClose(b.grad!.data, db, 1e-5 * scale(db), 1e-5);
  });
});

describe('batchNorm2d plane loops on every instruction set', () => {
  // Plane sizes around the vector widths (16, 8 and 4 floats, four accumulators of them) and
  // past one summation block (2048 floats): whole vectors, tails, and several blocks.
  const planes = [
    [1, 1],
    [1, 3],
    [3, 5],
    [4, 4],
    [1, 17],
    [5, 13],
    [8, 8],
    [8, 9],
    [3, 683],
  ];
  const scale = (a: ArrayLike<number>): number => {
    let largest = 1;
    for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i]));
    return largest;
  };

  test('training and eval with residual and ReLU: output, running statistics and every gradient against float64', () => {
    forEachIsa((which) => {
      for (const [H, W] of planes) {
        for (const training of [true, false]) {
          manualSeed(H * 1000 + W);
          const shape = [3, 2, H, W];
          const x = Tensor.randn(shape, { mean: 0.4, std: 1.5 }).requireGrad();
          const r = Tensor.randn(shape).requireGrad();
          const w = Tensor.from([0.7, -1.3]).requireGrad();
          const b = Tensor.from([0.2, -0.1]).requireGrad();
          const rm0 = [0.3, -0.2],
            rv0 = [1.5, 0.7];
          const rm = Tensor.from(rm0),
            rv = Tensor.from(rv0);
          const gy = Tensor.randn(shape);
          const y = ops.batchNorm2d(x, rm, rv, w, b, { training, eps: 1e-5, residual: r, relu: true });
          y.backward(gy);
          const context = `${which} ${H}x${W} ${training ? 'training' : 'eval'}`;
          const ref = referenceBatchNorm(x.data, shape, rm0, rv0, w.data, b.data, training, 0.1, 1e-5);
          const want = ref.y.map((v, i) => Math.max(v + r.data[i], 0));
          try {
            expectClose(y.data, want, 2e-5 * scale(want), 1e-5);
            if (training) {
              expectClose(rm.data, ref.runningMean!, 1e-5, 1e-5);
              expectClose(rv.data, ref.runningVar!, 1e-5, 1e-5);
            }
            // ReLU's gate is the op's own output (y > 0); the rest is the closed-form float64 backward.
            const g = Float64Array.from(gy.data, (v, i) => (y.data[i] > 0 ? v : 0));
            expect(Array.from(r.grad!.data)).toEqual(Array.from(g));
            const { dx, dw, db } = referenceBatchNormBackward(x.data, g, shape, w.data, training, rm0, rv0, 1e-5);
            expectClose(x.grad!.data, dx, 2e-5 * scale(dx), 1e-5);
            expectClose(w.grad!.data, dw, 2e-5 * scale(dw), 1e-5);
            expectClose(b.grad!.data, db, 2e-5 * scale(db), 1e-5);
          } catch (e) {
            throw new Error(`${context}: ${(e as Error).message}`, { cause: e });
          }
        }
      }
    });
  });
});
