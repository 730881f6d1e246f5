/** Naive float64 GEMM: the oracle for the GEMM core. Row-major, like the real one. */
export function referenceGemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  alpha: number,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  beta: number,
  C: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[k * M + i] : A[i * K + k];
        const b = transB ? B[j * K + k] : B[k * N + j];
        acc += a * b;
      }
      out[i * N + j] = alpha * acc + (beta === 0 ? 0 : beta * C[i * N + j]);
    }
  }
  return out;
}
