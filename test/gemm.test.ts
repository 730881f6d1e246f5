import { ops, setNumThreads, getNumThreads, Tensor, ShapeError, manualSeed } from '../lib';
import { gemmInto } from '../lib/ops/matmul';
import { referenceGemm } from './reference/gemm';
import { describeCuda, expectClose, forEachIsa } from './helpers';

const sizes = [1, 2, 7, 17, 63, 64, 65, 255, 257];

function check(transA: boolean, transB: boolean, M: number, N: number, K: number, beta: number, batch = 1): void {
  const a = Tensor.randn(transA ? [batch, K, M] : [batch, M, K]);
  const b = Tensor.randn(transB ? [batch, N, K] : [batch, K, N]);
  const c = Tensor.randn([batch, M, N]);
  const c0 = c.toArray();
  gemmInto(a, b, c, transA, transB, 0.5, beta);
  for (let i = 0; i < batch; i++) {
    const want = referenceGemm(
      transA,
      transB,
      M,
      N,
      K,
      0.5,
      a.data.subarray(i * M * K, (i + 1) * M * K),
      b.data.subarray(i * K * N, (i + 1) * K * N),
      beta,
      c0.slice(i * M * N, (i + 1) * M * N),
    );
    expectClose(c.data.subarray(i * M * N, (i + 1) * M * N), want, 1e-4 * Math.sqrt(K), 1e-4);
  }
}

describe('GEMM core against a float64 reference', () => {
  const threads = getNumThreads();
  afterAll(() => setNumThreads(threads));
  beforeEach(() => manualSeed(7));

  for (const t of [1, 2]) {
    test(`awkward square-ish sizes, every transpose, beta 0 and 0.75, ${t} thread(s)`, () => {
      setNumThreads(t);
      for (const s of sizes) {
        for (const [ta, tb] of [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ]) {
          // The two largest sizes dominate the run time (the reference is naive JS): one beta
          // each there, alternating, is enough; the small sizes cover both everywhere.
          if (s < 255 || ta === tb) check(ta, tb, s, s, s, 0);
          if (s < 255 || ta !== tb) check(ta, tb, s, s, s, 0.75);
        }
      }
    });
  }

  test('mixed M/N/K', () => {
    for (const [M, N, K] of [
      [1, 300, 5],
      [300, 1, 7],
      [17, 65, 257],
      [64, 1000, 3],
      [130, 9, 600],
      [33, 70, 641],
    ]) {
      check(false, false, M, N, K, 0);
      check(true, true, M, N, K, 1);
    }
  });

  test('batched', () => {
    check(false, true, 33, 20, 70, 0, 3);
  });

  test('every ISA gives the same answer', () => {
    forEachIsa(() => {
      check(false, false, 65, 257, 63, 0.5);
      // Several k blocks (K > 256), several column chunks (N > 384) and ragged row/column
      // edges for every tile shape (8x48, 6x16, 8x16), through both packing directions.
      for (const [ta, tb] of [
        [false, false],
        [true, true],
        [false, true],
        [true, false],
      ])
        check(ta, tb, 13, 401, 300, 0.5);
    });
  });

  test('a batch sharing one A (packed once) matches per-item GEMMs', () => {
    for (const transA of [false, true]) {
      const [batch, M, N, K] = [3, 37, 70, 300];
      const a = Tensor.randn(transA ? [1, K, M] : [1, M, K]);
      const b = Tensor.randn([batch, K, N]);
      const c = Tensor.randn([batch, M, N]);
      const c0 = c.toArray();
      gemmInto(a, b, c, transA, false, 1.5, 0.25);
      for (let i = 0; i < batch; i++) {
        const want = referenceGemm(
          transA,
          false,
          M,
          N,
          K,
          1.5,
          a.data,
          b.data.subarray(i * K * N, (i + 1) * K * N),
          0.25,
          c0.slice(i * M * N, (i + 1) * M * N),
        );
        expectClose(c.data.subarray(i * M * N, (i + 1) * M * N), want, 1e-4 * Math.sqrt(K), 1e-4);
      }
    }
  });

  test('two threads split few columns by rows, and a chunk or two per thread at vector boundaries', () => {
    setNumThreads(2);
    // 64 and 16 columns: a panel or less per thread (rows split); 256 and 200: two chunks cut at
    // vector boundaries, not at whole panels (each at least 2^20 multiply-adds: threaded).
    for (const [M, N, K] of [
      [256, 64, 300],
      [40, 16, 2000],
      [64, 256, 90],
      [33, 200, 200],
    ]) {
      check(false, false, M, N, K, 0.75);
    }
  });

  test('results are bitwise identical at 1 and 2 threads', () => {
    // The last two are batches of small GEMMs, spread over the threads by batch item.
    for (const [M, N, K, batchA, batch] of [
      [96, 1000, 600, 1, 1],
      [256, 64, 600, 1, 1],
      [64, 256, 300, 1, 1],
      [300, 20, 257, 1, 1],
      [5, 3000, 40, 1, 1],
      [9, 31, 40, 5, 5],
      [9, 31, 40, 1, 5],
    ]) {
      const a = Tensor.randn([batchA, M, K]),
        b = Tensor.randn([batch, K, N]);
      const out: Float32Array[] = [];
      for (const t of [1, 2]) {
        setNumThreads(t);
        const c = Tensor.empty([batch, M, N]);
        gemmInto(a, b, c, false, false, 1, 0);
        out.push(c.data);
      }
      expect(
        Buffer.from(out[0].buffer, out[0].byteOffset, out[0].byteLength).equals(
          Buffer.from(out[1].buffer, out[1].byteOffset, out[1].byteLength),
        ),
      ).toBe(true);
    }
  });

  test('beta 0 ignores NaN in C', () => {
    const a = Tensor.ones([1, 2, 2]),
      b = Tensor.ones([1, 2, 2]);
    const c = Tensor.full([1, 2, 2], NaN);
    gemmInto(a, b, c, false, false, 1, 0);
    expect(c.toArray()).toEqual([2, 2, 2, 2]);
  });
});

describe('few rows of A against the rows of B (a linear layer at batch 1 to 8: dot products)', () => {
  const threads = getNumThreads();
  afterAll(() => setNumThreads(threads));
  beforeEach(() => manualSeed(8));

  test('every row count 1-9 and ragged depths and widths on every ISA, beta 0 and 0.75', () => {
    // K below and above one vector, not a multiple of one, long enough for the path (K >= 32 M)
    // and too short for it (then the packed GEMM runs); N not a multiple of any column block.
    forEachIsa(() => {
      for (let M = 1; M <= 9; M++) {
        for (const K of [1, 15, 17, 40, 300]) {
          for (const N of [1, 7, 45]) check(false, true, M, N, K, M % 2 === 0 ? 0.75 : 0);
        }
      }
    });
  });

  test('results are bitwise identical at 1 and 2 threads (columns split between the threads)', () => {
    for (const [M, N, K] of [
      [1, 5000, 300],
      [8, 1001, 600],
      [3, 777, 2048],
    ]) {
      const a = Tensor.randn([1, M, K]),
        b = Tensor.randn([1, N, K]);
      const out: Float32Array[] = [];
      for (const t of [1, 2]) {
        setNumThreads(t);
        const c = Tensor.empty([1, M, N]);
        gemmInto(a, b, c, false, true, 1, 0);
        out.push(c.data);
      }
      expect(Buffer.from(out[0].buffer, out[0].byteOffset, out[0].byteLength)).toEqual(
        Buffer.from(out[1].buffer, out[1].byteOffset, out[1].byteLength),
      );
      check(false, true, M, N, K, 0);
    }
  });

  test('beta 0 ignores NaN in C', () => {
    const a = Tensor.ones([1, 2, 64]),
      b = Tensor.ones([1, 3, 64]);
    const c = Tensor.full([1, 2, 3], NaN);
    gemmInto(a, b, c, false, true, 1, 0);
    expect(c.toArray()).toEqual([64, 64, 64, 64, 64, 64]);
  });
});

describe('matmul errors', () => {
  test('mismatched inner dimensions name both shapes', () => {
    expect(() => ops.matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))).toThrow(ShapeError);
    expect(() => ops.matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))).toThrow(
      /inner dimensions differ.*\[2, 3\].*\[4, 5\]/,
    );
  });
});

describe('matmul gradients with a broadcast batch', () => {
  // C[b] = A[b] B with B shared by the batch: dA[b] = dC[b] B^T, dB = sum_b A[b]^T dC[b] (float64).
  function check(device: 'cpu' | 'cuda'): void {
    const [batch, M, K, N] = [3, 4, 5, 2];
    const a = Tensor.randn([batch, M, K]),
      b = Tensor.randn([K, N]),
      g = Tensor.randn([batch, M, N]);
    const ad = a.to(device).requireGrad(),
      bd = b.to(device).requireGrad();
    ops.matmul(ad, bd).backward(g.to(device));
    const A = a.data,
      B = b.data,
      G = g.data;
    const dA = new Float64Array(batch * M * K),
      dB = new Float64Array(K * N);
    for (let i = 0; i < batch; i++)
      for (let m = 0; m < M; m++)
        for (let n = 0; n < N; n++) {
          const gv = G[(i * M + m) * N + n];
          for (let k = 0; k < K; k++) {
            dA[(i * M + m) * K + k] += gv * B[k * N + n];
            dB[k * N + n] += A[(i * M + m) * K + k] * gv;
          }
        }
    expect(bd.grad!.shape).toEqual([K, N]);
    expectClose(ad.grad!.toArray(), dA, 1e-5, 1e-5);
    expectClose(bd.grad!.toArray(), dB, 1e-5, 1e-5);
  }
  test('on the CPU', () => check('cpu'));
  describeCuda('gemm.test')('on CUDA', () => {
    test('the broadcast operand gradient is summed on the GPU', () => check('cuda'));
  });
});
