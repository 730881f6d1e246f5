import { ops, Tensor, manualSeed, setNumThreads, getNumThreads, ShapeError, ArgumentError } from '../lib';
import { expectCudaMatchesCpu } from './device_compare';
import { OnnxGraphBuilder, int64 } from '../lib/onnx/builder';
import { runOnnx } from '../lib/onnx/ort';
import { expectClose, describeCuda } from './helpers';
import { referenceInterpolate } from './reference/interpolate';
import { numericGrad } from './reference/numeric_grad';
import { gradcheck } from './gradcheck';

type Mode = 'nearest' | 'bilinear';

async function ortResize(x: Tensor, outH: number, outW: number, mode: Mode, alignCorners: boolean): Promise<Tensor> {
  const attrs: Record<string, string> =
    mode === 'nearest'
      ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
      : { mode: 'linear', coordinate_transformation_mode: alignCorners ? 'align_corners' : 'pytorch_half_pixel' };
  const bytes = new OnnxGraphBuilder({ opset: 19 })
    .input('x', x.shape)
    .initializer('sizes', int64([x.shape[0], x.shape[1], outH, outW], [4]))
    .node('Resize', ['x', '', '', 'sizes'], ['y'], attrs)
    .output('y')
    .toBytes();
  return (await runOnnx(bytes, { x }, { threads: 1 })).y;
}

// [input shape, output size]: up and down, odd, the exact 2x shortcut, 1-pixel planes.
const sizeCases: [number[], [number, number]][] = [
  [
    [2, 3, 5, 7],
    [7, 3],
  ],
  [
    [1, 2, 4, 4],
    [8, 8],
  ],
  [
    [1, 1, 3, 5],
    [10, 9],
  ],
  [
    [2, 1, 7, 6],
    [2, 11],
  ],
  [
    [1, 2, 1, 1],
    [3, 4],
  ],
  [
    [1, 1, 6, 5],
    [1, 1],
  ],
  [
    [2, 3, 5, 6],
    [10, 12],
  ], // exact 2x on both axes: nearest's dedicated forward and backward
];

describe('interpolate forward', () => {
  beforeEach(() => manualSeed(31));

  for (const [mode, align] of [
    ['nearest', false],
    ['bilinear', false],
    ['bilinear', true],
  ] as [Mode, boolean][]) {
    test(`${mode}${mode === 'bilinear' ? `, alignCorners ${align}` : ''}, by size: reference and ONNX Runtime Resize`, async () => {
      for (const [shape, [oh, ow]] of sizeCases) {
        const x = Tensor.randn(shape);
        const y = ops.interpolate(x, { size: [oh, ow], mode, ...(mode === 'bilinear' ? { alignCorners: align } : {}) });
        expect(y.shape).toEqual([shape[0], shape[1], oh, ow]);
        const want = referenceInterpolate(x.data, shape, oh, ow, mode, align);
        expectClose(y.data, want, 1e-6, 1e-5);
        // ONNX's pytorch_half_pixel maps a 1-pixel output axis to source 0; PyTorch (and we)
        // map it to the centre (in/2 - 0.5), so ORT is only an oracle for longer axes there.
        if (mode === 'bilinear' && !align && (oh === 1 || ow === 1)) continue;
        expectClose(y.data, (await ortResize(x, oh, ow, mode, align)).data, 1e-5, 1e-5);
      }
    });
  }

  test('scaleFactor: output floor(in * s) and coordinates from 1/s, as PyTorch', () => {
    for (const [shape, s] of [
      [
        [1, 2, 5, 7],
        [1.7, 2.5],
      ],
      [
        [2, 1, 9, 6],
        [0.6, 0.5],
      ],
      [
        [1, 1, 3, 3],
        [3, 3],
      ],
    ] as [number[], [number, number]][]) {
      for (const [mode, align] of [
        ['nearest', false],
        ['bilinear', false],
        ['bilinear', true],
      ] as [Mode, boolean][]) {
        const x = Tensor.randn(shape);
        const y = ops.interpolate(x, { scaleFactor: s, mode, ...(mode === 'bilinear' ? { alignCorners: align } : {}) });
        const oh = Math.floor(shape[2] * s[0]),
          ow = Math.floor(shape[3] * s[1]);
        expect(y.shape).toEqual([shape[0], shape[1], oh, ow]);
        expectClose(y.data, referenceInterpolate(x.data, shape, oh, ow, mode, align, s[0], s[1]), 1e-6, 1e-5);
      }
    }
    // The scale factor, not in/out, drives the coordinates: 5 * 1.7 = 8 rows but 1/1.7 != 5/8.
    const x = Tensor.arange(0, 5).view([1, 1, 5, 1]);
    const viaScale = ops.interpolate(x, { scaleFactor: [1.7, 1], mode: 'nearest' }).toArray();
    const viaSize = ops.interpolate(x, { size: [8, 1], mode: 'nearest' }).toArray();
    expect(viaScale).toEqual([0, 0, 1, 1, 2, 2, 3, 4]);
    expect(viaSize).toEqual([0, 0, 1, 1, 2, 3, 3, 4]);
    expect(
      ops.interpolate(x, { scaleFactor: [1.7, 1], mode: 'nearest', recomputeScaleFactor: true }).toArray(),
    ).toEqual(viaSize);
  });
});

describe('interpolate backward against finite differences of the reference', () => {
  beforeEach(() => manualSeed(32));
  for (const [mode, align] of [
    ['nearest', false],
    ['bilinear', false],
    ['bilinear', true],
  ] as [Mode, boolean][]) {
    test(`${mode}${mode === 'bilinear' ? `, alignCorners ${align}` : ''}`, () => {
      for (const [shape, [oh, ow]] of sizeCases) {
        const x = Tensor.randn(shape, { requiresGrad: true });
        const y = ops.interpolate(x, { size: [oh, ow], mode, ...(mode === 'bilinear' ? { alignCorners: align } : {}) });
        const g = Tensor.randn(y.shape);
        y.backward(g);
        const f = ([xx]: Float64Array[]): Float64Array => referenceInterpolate(xx, shape, oh, ow, mode, align);
        expectClose((x.grad as Tensor).data, numericGrad(f, [x.data], g.data, 0), 1e-5, 1e-4);
      }
    });
  }
});

test('interpolate is bit-identical at 1 and 2 threads', () => {
  const threads = getNumThreads();
  try {
    manualSeed(33);
    const x = Tensor.randn([2, 5, 9, 7]);
    const run = (t: number): number[][] => {
      setNumThreads(t);
      const xi = x.clone().requireGrad();
      const y = ops.interpolate(xi, { size: [13, 20], mode: 'bilinear' });
      y.backward(Tensor.ones(y.shape));
      return [y.toArray(), (xi.grad as Tensor).toArray()];
    };
    expect(run(2)).toEqual(run(1));
  } finally {
    setNumThreads(threads);
  }
});

describe('interpolate errors', () => {
  const x = Tensor.zeros([1, 2, 4, 4]);
  test('size and scaleFactor: exactly one', () => {
    expect(() => ops.interpolate(x, { size: 8, scaleFactor: 2 })).toThrow(/exactly one of size and scaleFactor.*both/);
    expect(() => ops.interpolate(x, {})).toThrow(/neither/);
  });
  test('bad sizes, scales and modes', () => {
    expect(() => ops.interpolate(x, { size: [2.5, 3] })).toThrow(ArgumentError);
    expect(() => ops.interpolate(x, { scaleFactor: -1 })).toThrow(/scaleFactor.*-1 of type number/);
    expect(() => ops.interpolate(x, { scaleFactor: 0.1 })).toThrow(/empty output/);
    expect(() => ops.interpolate(x, { size: 8, mode: 'bicubic' as never })).toThrow(
      /mode to be one of 'nearest', 'bilinear'/,
    );
    expect(() => ops.interpolate(x, { size: 8, alignCorners: true })).toThrow(
      /alignCorners can only be set with mode 'bilinear'/,
    );
  });
  test('wrong ndim', () => {
    expect(() => ops.interpolate(Tensor.zeros([2, 4, 4]), { size: 8 })).toThrow(ShapeError);
  });
});

const gpu = describeCuda('interpolate.test');
gpu('interpolate on CUDA', () => {
  test('every mode, by size and by scale factor, forward and backward match the CPU', () => {
    manualSeed(34);
    for (const [shape, [oh, ow]] of sizeCases) {
      const x = Tensor.randn(shape);
      expectCudaMatchesCpu((v) => ops.interpolate(v, { size: [oh, ow], mode: 'nearest' }), [x], [true]);
      for (const alignCorners of [false, true]) {
        expectCudaMatchesCpu(
          (v) => ops.interpolate(v, { size: [oh, ow], mode: 'bilinear', alignCorners }),
          [x],
          [true],
        );
      }
    }
    expectCudaMatchesCpu(
      (v) => ops.interpolate(v, { scaleFactor: [1.7, 0.6], mode: 'bilinear' }),
      [Tensor.randn([1, 2, 5, 9])],
      [true],
    );
  });
});

test('bilinear interpolate passes gradcheck on the float32 op itself', () => {
  manualSeed(35);
  for (const alignCorners of [false, true]) {
    gradcheck(
      (x) => ops.interpolate(x, { size: [7, 4], mode: 'bilinear', alignCorners }),
      [Tensor.randn([1, 2, 4, 6], { requiresGrad: true })],
    );
  }
});

describe("addInterpolated: base + interpolate(x) to base's size in one pass", () => {
  beforeEach(() => manualSeed(36));
  const modes = [
    ['nearest', false],
    ['bilinear', false],
    ['bilinear', true],
  ] as [Mode, boolean][];

  test('forward and both gradients against the float64 reference (2x, odd 7 <- 3, downsampling)', () => {
    for (const [mode, align] of modes) {
      for (const [shape, [oh, ow]] of [
        ...sizeCases,
        [
          [2, 2, 3, 4],
          [7, 9],
        ],
      ] as [number[], [number, number]][]) {
        const x = Tensor.randn(shape, { requiresGrad: true });
        const base = Tensor.randn([shape[0], shape[1], oh, ow], { requiresGrad: true });
        const y = ops.addInterpolated(base, x, { mode, ...(mode === 'bilinear' ? { alignCorners: align } : {}) });
        const up = referenceInterpolate(x.data, shape, oh, ow, mode, align);
        expectClose(
          y.data,
          up.map((v, i) => v + base.data[i]),
          1e-6,
          1e-5,
        );
        const g = Tensor.randn(y.shape);
        y.backward(g);
        expect(Array.from((base.grad as Tensor).data)).toEqual(Array.from(g.data));
        const f = ([xx]: Float64Array[]): Float64Array => referenceInterpolate(xx, shape, oh, ow, mode, align);
        expectClose((x.grad as Tensor).data, numericGrad(f, [x.data], g.data, 0), 1e-5, 1e-4);
      }
    }
  });

  test('equals add(base, interpolate(x)) bit for bit, at 1 and 2 threads', () => {
    const threads = getNumThreads();
    try {
      const base = Tensor.randn([2, 4, 16, 18]),
        x = Tensor.randn([2, 4, 8, 9]);
      for (const t of [1, 2]) {
        setNumThreads(t);
        for (const mode of ['nearest', 'bilinear'] as Mode[]) {
          const want = ops.add(base, ops.interpolate(x, { size: [16, 18], mode }));
          expect(ops.addInterpolated(base, x, { mode }).toArray()).toEqual(want.toArray());
        }
      }
    } finally {
      setNumThreads(threads);
    }
  });

  test('bad input', () => {
    const base = Tensor.zeros([1, 2, 8, 8]);
    expect(() => ops.addInterpolated(base, Tensor.zeros([1, 3, 4, 4]))).toThrow(
      /expected x of shape \[1, 2, h, w\].*\[1, 3, 4, 4\]/,
    );
    expect(() => ops.addInterpolated(base, Tensor.zeros([2, 4, 4]))).toThrow(ShapeError);
    expect(() => ops.addInterpolated(null as never, Tensor.zeros([1, 2, 4, 4]))).toThrow(
      /expected base to be a Tensor/,
    );
    expect(() => ops.addInterpolated(base, Tensor.zeros([1, 2, 4, 4]), { mode: 'area' as never })).toThrow(
      ArgumentError,
    );
    expect(() => ops.addInterpolated(base, Tensor.zeros([1, 2, 4, 4]), { alignCorners: true })).toThrow(
      /alignCorners can only be set/,
    );
  });
});

gpu('addInterpolated on CUDA', () => {
  test('matches the CPU, forward and backward', () => {
    manualSeed(37);
    for (const mode of ['nearest', 'bilinear'] as Mode[]) {
      expectCudaMatchesCpu(
        (b, x) => ops.addInterpolated(b, x, { mode }),
        [Tensor.randn([2, 3, 7, 10]), Tensor.randn([2, 3, 3, 5])],
        [true, true],
      );
    }
  });
});
