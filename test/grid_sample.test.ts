import { ops, Tensor, manualSeed, setNumThreads, getNumThreads, ShapeError, ArgumentError } from '../lib';
import { expectCudaMatchesCpu } from './device_compare';
import { OnnxGraphBuilder } from '../lib/onnx/builder';
import { runOnnx } from '../lib/onnx/ort';
import { expectClose, describeCuda, forEachIsa } from './helpers';
import { GridMode, GridPadding, referenceGridSample } from './reference/grid_sample';
import { numericGrad } from './reference/numeric_grad';
import { gradcheck } from './gradcheck';

const modes: GridMode[] = ['bilinear', 'nearest'];
const paddings: GridPadding[] = ['zeros', 'border', 'reflection'];
const shapes: [number[], number, number][] = [
  [[2, 3, 5, 7], 4, 6],
  [[1, 2, 4, 3], 5, 5],
  // From 16 channels the backward runs channels-last (blocks of 16 channels: 16 and a tail of 5).
  [[2, 21, 4, 5], 3, 4],
  [[1, 1, 1, 6], 2, 3],
];

// Uniform in [-1.4, 1.4]: some points fall outside the image to exercise the padding modes.
function randomGrid(n: number, h: number, w: number, requiresGrad = false): Tensor {
  return Tensor.rand([n, h, w, 2], { low: -1.4, high: 1.4, requiresGrad });
}

async function ortGridSample(
  input: Tensor,
  grid: Tensor,
  mode: GridMode,
  padding: GridPadding,
  align: boolean,
): Promise<Tensor> {
  const bytes = new OnnxGraphBuilder({ opset: 16 })
    .input('x', input.shape)
    .input('grid', grid.shape)
    .node('GridSample', ['x', 'grid'], ['y'], { mode, padding_mode: padding, align_corners: align ? 1 : 0 })
    .output('y')
    .toBytes();
  return (await runOnnx(bytes, { x: input, grid }, { threads: 1 })).y;
}

describe('gridSample forward: every mode, padding mode and alignCorners', () => {
  beforeEach(() => manualSeed(41));
  for (const mode of modes)
    for (const padding of paddings)
      for (const align of [false, true])
        test(`${mode}, ${padding}, alignCorners ${align}: reference and ONNX Runtime GridSample`, async () => {
          for (const [shape, oh, ow] of shapes) {
            const x = Tensor.randn(shape);
            const grid = randomGrid(shape[0], oh, ow);
            const y = ops.gridSample(x, grid, { mode, paddingMode: padding, alignCorners: align });
            expect(y.shape).toEqual([shape[0], shape[1], oh, ow]);
            expectClose(
              y.data,
              referenceGridSample(x.data, shape, grid.data, oh, ow, mode, padding, align),
              1e-5,
              1e-5,
            );
            expectClose(y.data, (await ortGridSample(x, grid, mode, padding, align)).data, 1e-5, 1e-5);
          }
        });

  test('the identity grid with alignCorners reproduces the input; non-finite grid values sample zero', () => {
    const [H, W] = [4, 5];
    const x = Tensor.randn([1, 2, H, W]);
    const g = new Float32Array(H * W * 2);
    for (let i = 0; i < H; i++)
      for (let j = 0; j < W; j++) {
        g[(i * W + j) * 2] = (2 * j) / (W - 1) - 1;
        g[(i * W + j) * 2 + 1] = (2 * i) / (H - 1) - 1;
      }
    for (const mode of modes) {
      expectClose(
        ops.gridSample(x, Tensor.from(g, [1, H, W, 2]), { mode, alignCorners: true }).data,
        x.data,
        1e-6,
        1e-6,
      );
    }
    // NaN samples zero in every padding mode; with zeros padding so do infinite and huge
    // values (border clamps those to the edge, as PyTorch does). Never a read out of bounds.
    const nan = Tensor.from([NaN, 0, 0, NaN, NaN, NaN], [1, 1, 3, 2]);
    const huge = Tensor.from([Infinity, 0, 0, -Infinity, 1e30, 1e30, -3e9, 2], [1, 1, 4, 2]);
    for (const mode of modes) {
      for (const paddingMode of paddings) {
        expect(ops.gridSample(x, nan, { mode, paddingMode }).toArray()).toEqual(new Array(6).fill(0));
        expect(ops.gridSample(x, huge, { mode, paddingMode }).toArray().every(Number.isFinite)).toBe(true);
      }
      expect(ops.gridSample(x, huge, { mode }).toArray()).toEqual(new Array(8).fill(0));
    }
  });
});

describe('gridSample backward against finite differences of the float64 reference', () => {
  beforeEach(() => manualSeed(42));
  for (const mode of modes)
    for (const padding of paddings)
      for (const align of [false, true])
        test(`${mode}, ${padding}, alignCorners ${align}: gradients of input and grid`, () => {
          for (const [shape, oh, ow] of shapes.slice(0, 3)) {
            const x = Tensor.randn(shape, { requiresGrad: true });
            const grid = randomGrid(shape[0], oh, ow, true);
            const y = ops.gridSample(x, grid, { mode, paddingMode: padding, alignCorners: align });
            const g = Tensor.randn(y.shape);
            y.backward(g);
            const f = ([xx, gg]: Float64Array[]): Float64Array =>
              referenceGridSample(xx, shape, gg, oh, ow, mode, padding, align);
            expectClose((x.grad as Tensor).data, numericGrad(f, [x.data, grid.data], g.data, 0), 1e-5, 1e-4);
            const gridGrad = (grid.grad as Tensor).data;
            if (mode === 'nearest') {
              expect(Array.from(gridGrad).every((v) => v === 0)).toBe(true);
            } else {
              expectClose(gridGrad, numericGrad(f, [x.data, grid.data], g.data, 1, 1e-7), 2e-3, 2e-3);
            }
          }
        });

  test('only the grid requires gradients', () => {
    const x = Tensor.randn([1, 2, 4, 4]);
    const grid = randomGrid(1, 3, 3, true);
    const y = ops.gridSample(x, grid);
    const g = Tensor.randn(y.shape);
    y.backward(g);
    const f = ([gg]: Float64Array[]): Float64Array =>
      referenceGridSample(x.data, x.shape, gg, 3, 3, 'bilinear', 'zeros', false);
    expectClose((grid.grad as Tensor).data, numericGrad(f, [grid.data], g.data, 0, 1e-7), 2e-3, 2e-3);
  });
});

test('images larger than L2 (sampled plane by plane) match the reference and, bit for bit, the same channels sampled in small images', () => {
  manualSeed(44);
  // 2 x 120 planes of 48x48 floats: 1.1 MB per image, over the plane-major threshold (1 MB).
  const shape = [2, 120, 48, 48] as const;
  const x = Tensor.randn([...shape]);
  const grid = randomGrid(2, 20, 30);
  for (const mode of modes) {
    const y = ops.gridSample(x, grid, { mode, paddingMode: 'border' });
    // float32 source coordinates round at ~1e-5 of 48 pixels here, so the tolerance is wider than on small planes.
    expectClose(y.data, referenceGridSample(x.data, shape, grid.data, 20, 30, mode, 'border', false), 1e-4, 1e-4);
    // Channels 8..15 alone (one small image each): the pixel-block path, the same sums.
    const part = ops.gridSample(ops.slice(x, 1, 8, 16), grid, { mode, paddingMode: 'border' });
    expect(part.toArray()).toEqual(ops.slice(y, 1, 8, 16).toArray());
  }
});

test('from 16 channels the forward runs channels-last: the same bits as the planes of fewer channels, in every mode and padding', () => {
  manualSeed(48);
  // 21 channels: vectors of 16 and a tail of 5; the first 8 channels alone take the plane path.
  const x = Tensor.randn([2, 21, 9, 11]);
  const grid = randomGrid(2, 7, 6);
  for (const mode of modes)
    for (const padding of paddings)
      for (const align of [false, true]) {
        const options = { mode, paddingMode: padding, alignCorners: align };
        const all = ops.gridSample(x, grid, options);
        const part = ops.gridSample(ops.slice(x, 1, 0, 8), grid, options);
        expect(ops.slice(all, 1, 0, 8).toArray()).toEqual(part.toArray());
        expectClose(all.data, referenceGridSample(x.data, x.shape, grid.data, 7, 6, mode, padding, align), 1e-5, 1e-5);
      }
});

test('the grid gradient of an image larger than L2 (summed plane by plane) matches finite differences', () => {
  manualSeed(45);
  // 120 planes of 48x48 floats (1.1 MB, over 1 MB): the grid gradient runs plane by plane over ranges of pixels.
  const shape = [1, 120, 48, 48];
  const x = Tensor.randn(shape);
  const grid = randomGrid(1, 6, 7);
  const g = Tensor.randn([1, 120, 6, 7]);
  const f = ([gg]: Float64Array[]): Float64Array =>
    referenceGridSample(x.data, shape, gg, 6, 7, 'bilinear', 'zeros', false);
  const expected = numericGrad(f, [grid.data], g.data, 0, 1e-7);
  forEachIsa(() => {
    const gi = grid.clone().requireGrad();
    ops.gridSample(x, gi).backward(g);
    expectClose((gi.grad as Tensor).data, expected, 2e-3, 2e-3);
  });
});

test('the grid gradient of an image larger than L2 is bit-identical at 1, 2 and 3 threads (the threads split its pixels)', () => {
  const threads = getNumThreads();
  try {
    manualSeed(47);
    const x = Tensor.randn([2, 120, 48, 48]);
    const grid = randomGrid(2, 21, 19);
    const g = Tensor.randn([2, 120, 21, 19]);
    const run = (t: number): number[] => {
      setNumThreads(t);
      const gi = grid.clone().requireGrad();
      ops.gridSample(x, gi, { paddingMode: 'reflection' }).backward(g);
      return (gi.grad as Tensor).toArray();
    };
    const one = run(1);
    expect(run(2)).toEqual(one);
    expect(run(3)).toEqual(one);
  } finally {
    setNumThreads(threads);
  }
});

test('pixels whose four corners all lie inside (fetched as pairs) and the others give the same bits', () => {
  manualSeed(46);
  const x = Tensor.randn([1, 3, 20, 24]);
  // Inside the image with room for the right and lower corners: every lane of every group of 16 pixels.
  const inside = Tensor.rand([1, 8, 8, 2], { low: -0.85, high: 0.85 });
  // The same grid with one pixel of each group of 16 moved off the image: those groups take the masked path.
  const mixed = inside.clone();
  for (let p = 0; p < 64; p += 16) mixed.data[2 * p] = 1.3;
  const forward = (grid: Tensor) => {
    const xi = x.clone().requireGrad(),
      gi = grid.clone().requireGrad();
    const y = ops.gridSample(xi, gi);
    y.backward(Tensor.ones(y.shape));
    return { y: y.data, gx: (xi.grad as Tensor).data, gg: (gi.grad as Tensor).data };
  };
  const expected = referenceGridSample(x.data, x.shape, inside.data, 8, 8, 'bilinear', 'zeros', false);
  forEachIsa(() => {
    const a = forward(inside),
      b = forward(mixed);
    expectClose(a.y, expected, 1e-5, 1e-5);
    for (let c = 0; c < 3; c++)
      for (let p = 0; p < 64; p++) if (p % 16 !== 0) expect(b.y[c * 64 + p]).toBe(a.y[c * 64 + p]);
    for (let p = 0; p < 64; p++)
      if (p % 16 !== 0) expect([b.gg[2 * p], b.gg[2 * p + 1]]).toEqual([a.gg[2 * p], a.gg[2 * p + 1]]);
  });
});

test.each([
  ['planes', 4],
  ['channels-last, 37 channels', 37],
])('gridSample is bit-identical at 1 and 2 threads (backward by %s)', (_, channels) => {
  const threads = getNumThreads();
  try {
    manualSeed(43);
    const x = Tensor.randn([2, channels, 9, 8]);
    const grid = randomGrid(2, 7, 6);
    const run = (t: number): number[][] => {
      setNumThreads(t);
      const xi = x.clone().requireGrad(),
        gi = grid.clone().requireGrad();
      const y = ops.gridSample(xi, gi, { paddingMode: 'reflection' });
      y.backward(Tensor.ones(y.shape));
      return [y.toArray(), (xi.grad as Tensor).toArray(), (gi.grad as Tensor).toArray()];
    };
    expect(run(2)).toEqual(run(1));
  } finally {
    setNumThreads(threads);
  }
});

describe('gridSample errors', () => {
  const x = Tensor.zeros([2, 3, 4, 4]);
  test('grid shape', () => {
    expect(() => ops.gridSample(x, Tensor.zeros([2, 3, 3, 3]))).toThrow(
      /grid of shape \[2, Hout, Wout, 2\] but received \[2, 3, 3, 3\]/,
    );
    expect(() => ops.gridSample(x, Tensor.zeros([1, 3, 3, 2]))).toThrow(ShapeError);
    expect(() => ops.gridSample(x, Tensor.zeros([2, 9, 2]))).toThrow(ShapeError);
  });
  test('input ndim', () => {
    expect(() => ops.gridSample(Tensor.zeros([3, 4, 4]), Tensor.zeros([1, 2, 2, 2]))).toThrow(
      /input to have 4 dimensions/,
    );
  });
  test('bad modes', () => {
    const grid = Tensor.zeros([2, 2, 2, 2]);
    expect(() => ops.gridSample(x, grid, { mode: 'bicubic' as never })).toThrow(
      /mode to be one of 'bilinear', 'nearest'/,
    );
    expect(() => ops.gridSample(x, grid, { paddingMode: 'wrap' as never })).toThrow(ArgumentError);
    expect(() => ops.gridSample(x, grid, { alignCorners: 1 as never })).toThrow(/alignCorners/);
  });
});

const gpu = describeCuda('grid_sample.test');
gpu('gridSample on CUDA', () => {
  test('every mode and padding mode, forward and gradients match the CPU', () => {
    manualSeed(44);
    const x = Tensor.randn([2, 3, 6, 7]);
    const grid = randomGrid(2, 5, 4);
    for (const mode of modes)
      for (const paddingMode of paddings)
        for (const alignCorners of [false, true]) {
          expectCudaMatchesCpu(
            (a, g) => ops.gridSample(a, g, { mode, paddingMode, alignCorners }),
            [x, grid],
            [true, true],
          );
        }
  });
});

test('gridSample passes gradcheck for the input on the float32 op itself (the grid is checked against the float64 reference above)', () => {
  manualSeed(45);
  for (const paddingMode of paddings) {
    const grid = randomGrid(1, 3, 4);
    gradcheck((x) => ops.gridSample(x, grid, { paddingMode }), [Tensor.randn([1, 2, 4, 5], { requiresGrad: true })]);
  }
});
