import { Tensor, manualSeed, OnnxError } from '../lib';
import { OnnxGraphBuilder, attr, int64 } from '../lib/onnx/builder';
import { OrtSession, runOnnx } from '../lib/onnx/ort';
import { expectClose } from './helpers';

/** float64 reference: a [M,K] @ b [K,N] + bias [N]. */
function matmulAdd(
  a: Float32Array,
  b: Float32Array,
  bias: Float32Array,
  M: number,
  K: number,
  N: number,
): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
      out[i * N + j] = s + bias[j];
    }
  }
  return out;
}

/** float64 reference for a plain NCHW conv (groups 1) with stride and symmetric padding. */
function conv2d(
  x: Tensor,
  w: Tensor,
  bias: Float32Array,
  stride: number,
  pad: number,
): { out: Float64Array; shape: number[] } {
  const [N, C, H, W] = x.shape;
  const [O, , KH, KW] = w.shape;
  const OH = Math.floor((H + 2 * pad - KH) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - KW) / stride) + 1;
  const out = new Float64Array(N * O * OH * OW);
  const xd = x.data,
    wd = w.data;
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let s = bias[o];
          for (let c = 0; c < C; c++)
            for (let i = 0; i < KH; i++)
              for (let j = 0; j < KW; j++) {
                const y = oy * stride - pad + i,
                  xx = ox * stride - pad + j;
                if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
                s += xd[((n * C + c) * H + y) * W + xx] * wd[((o * C + c) * KH + i) * KW + j];
              }
          out[((n * O + o) * OH + oy) * OW + ox] = s;
        }
  return { out, shape: [N, O, OH, OW] };
}

describe('OnnxGraphBuilder + runOnnx', () => {
  beforeEach(() => manualSeed(11));

  test('MatMul + Add with a dynamic batch matches a float64 reference', async () => {
    const [K, N] = [13, 7];
    const w = Tensor.randn([K, N]);
    const bias = Tensor.randn([N]);
    const bytes = new OnnxGraphBuilder({ opset: 19 })
      .input('x', ['batch', K])
      .initializer('w', w)
      .initializer('b', bias.data, [N])
      .node('MatMul', ['x', 'w'], ['xw'])
      .node('Add', ['xw', 'b'], ['y'])
      .output('y', ['batch', N])
      .toBytes();
    for (const M of [1, 5]) {
      const x = Tensor.randn([M, K]);
      const { y } = await runOnnx(bytes, { x }, { threads: 1 });
      expect(y.shape).toEqual([M, N]);
      expectClose(y.data, matmulAdd(x.data, w.data, bias.data, M, K, N), 1e-5, 1e-5);
    }
  });

  test('Conv with stride, padding and bias (odd input) matches a float64 reference at 2 threads', async () => {
    const x = Tensor.randn([2, 3, 9, 7]);
    const w = Tensor.randn([4, 3, 3, 3]);
    const bias = Tensor.randn([4]);
    const bytes = new OnnxGraphBuilder({ opset: 22 })
      .input('x', ['N', 3, 9, 7])
      .initializer('w', w)
      .initializer('b', bias)
      .node('Conv', ['x', 'w', 'b'], ['y'], {
        strides: [2, 2],
        pads: [1, 1, 1, 1],
        kernel_shape: [3, 3],
        auto_pad: 'NOTSET',
      })
      .output('y')
      .toBytes();
    const { y } = await runOnnx(bytes, { x }, { threads: 2 });
    const want = conv2d(x, w, bias.data, 2, 1);
    expect(y.shape).toEqual(want.shape);
    expectClose(y.data, want.out, 1e-4, 1e-4);
  });

  test('int64 initializers, float / floats / tensor attributes and Gemm alpha', async () => {
    const x = Tensor.randn([2, 3, 4]);
    const bytes = new OnnxGraphBuilder({ opset: 19 })
      .input('x', [2, 3, 4])
      .initializer('shape', int64([2, -1]))
      .node('Reshape', ['x', 'shape'], ['flat'])
      // An integer-valued float attribute must be wrapped explicitly; 0.25 is inferred as float.
      .node('LeakyRelu', ['flat'], ['act'], { alpha: 0.25 })
      .node('Constant', [], ['k'], { value: Float32Array.from([2, 3]) })
      .node('Gemm', ['act', 'act', ''], ['g'], { alpha: attr.float(2), transB: 1 })
      .node('Mul', ['g', 'k'], ['y'])
      .output('y', [2, 2])
      .toBytes();
    const { y } = await runOnnx(bytes, { x });
    const flat = x.data;
    const act = Array.from(flat, (v) => (v < 0 ? 0.25 * v : v));
    const want: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++) {
        let s = 0;
        for (let k = 0; k < 12; k++) s += act[i * 12 + k] * act[j * 12 + k];
        want.push(2 * s * [2, 3][j]);
      }
    expectClose(y.data, want, 1e-4, 1e-5);
  });

  test.each([19, 22])('DeformConv (opset %i) loads and runs; zero offsets reproduce Conv', async (opset) => {
    const x = Tensor.randn([1, 2, 5, 6]);
    const w = Tensor.randn([3, 2, 3, 3]);
    const bias = Tensor.randn([3]);
    const offset = Tensor.zeros([1, 2 * 9, 5, 6]);
    const bytes = new OnnxGraphBuilder({ opset })
      .input('x', [1, 2, 5, 6])
      .input('offset', [1, 18, 5, 6])
      .initializer('w', w)
      .initializer('b', bias)
      .node('DeformConv', ['x', 'w', 'offset', 'b'], ['y'], { pads: [1, 1, 1, 1], kernel_shape: [3, 3] })
      .output('y')
      .toBytes();
    const { y } = await runOnnx(bytes, { x, offset }, { threads: 1 });
    const want = conv2d(x, w, bias.data, 1, 1);
    expect(y.shape).toEqual(want.shape);
    expectClose(y.data, want.out, 1e-4, 1e-4);
  });

  test('an extra opset domain is imported and a kept session runs repeatedly', async () => {
    const b = new OnnxGraphBuilder({ opset: 19, domains: { 'com.microsoft': 1 } })
      .input('x', ['n', 4])
      .node('Relu', ['x'], ['y'])
      .output('y');
    const session = await OrtSession.create(b.toBytes(), { threads: 2 });
    expect(session.inputNames).toEqual(['x']);
    const x = Tensor.from([-1, 2, -3, 4], [1, 4]);
    const feeds = session.feeds({ x });
    await session.runRaw(feeds);
    const { y } = await session.run({ x });
    expect(Array.from(y.data)).toEqual([0, 2, 0, 4]);
    await session.release();
    await expect(session.run({ x })).rejects.toThrow(/released/);
  });

  test('malformed graphs and arguments give clear OnnxErrors', async () => {
    expect(() => new OnnxGraphBuilder({ opset: 0 })).toThrow(/expected opset to be a positive integer but received 0/);
    const undef = new OnnxGraphBuilder({ opset: 19 }).input('x', [2]).node('Relu', ['z'], ['y']).output('y');
    expect(() => undef.toBytes()).toThrow(OnnxError);
    expect(() => undef.toBytes()).toThrow(/input 'z' of Relu node #0 .* is not a graph input/);
    const twice = new OnnxGraphBuilder({ opset: 19 }).input('x', [2]).node('Relu', ['x'], ['x']).output('x');
    expect(() => twice.toBytes()).toThrow(/'x' is defined twice/);
    const noOut = new OnnxGraphBuilder({ opset: 19 }).input('x', [2]).node('Relu', ['x'], ['y']).output('q');
    expect(() => noOut.toBytes()).toThrow(/graph output 'q' is not produced/);
    const noDomain = new OnnxGraphBuilder({ opset: 19 })
      .input('x', [2])
      .node('Foo', ['x'], ['y'], {}, { domain: 'my.ops' })
      .output('y');
    expect(() => noDomain.toBytes()).toThrow(/domain 'my.ops', which is not imported/);
    const b = new OnnxGraphBuilder({ opset: 19 });
    expect(() => b.initializer('w', Float32Array.from([1, 2, 3]), [2, 2])).toThrow(
      /dims \[2, 2\] hold 4 values but the data has 3/,
    );
    expect(() => b.initializer('w', [1, 2] as unknown as Float32Array)).toThrow(/wrap plain arrays/);
    expect(() => b.input('x', [2, -1])).toThrow(/expected shape to be an array of non-negative integers/);
    expect(() => b.node('Relu', ['x'], ['y'], { alpha: {} as unknown as number })).toThrow(
      /attribute 'alpha' has an unsupported value/,
    );
    expect(() => b.node('Relu', ['x'], ['y'], { a: attr.int(1.5) })).toThrow(/expected attribute 'a' to be an integer/);
    // A well-formed protobuf with an unknown op is ONNX Runtime's to reject, still as an OnnxError.
    const unknownOp = new OnnxGraphBuilder({ opset: 19 })
      .input('x', [2])
      .node('NoSuchOp', ['x'], ['y'])
      .output('y')
      .toBytes();
    await expect(OrtSession.create(unknownOp)).rejects.toThrow(/ONNX Runtime rejected the model/);
    const ok = new OnnxGraphBuilder({ opset: 19 }).input('x', [2]).node('Relu', ['x'], ['y']).output('y').toBytes();
    await expect(runOnnx(ok, {})).rejects.toThrow(/missing feed 'x'/);
    await expect(runOnnx(ok, { x: Tensor.zeros([2]), extra: Tensor.zeros([1]) })).rejects.toThrow(/no input 'extra'/);
  });
});
