// A simple tiled CUDA SGEMM (shared-memory tiles, one output element per thread). Correct
// for any shape and transpose; not tuned: the conv kernels in this directory are what the
// GPU path spends its time in.
#include <cuda_runtime.h>

#include "cuda/gemm.h"
#include "cuda/runtime.h"

namespace flexconv {
namespace cuda {
namespace {

constexpr int kTile = 16;

__global__ void sgemm_kernel(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                             const float* A, std::int64_t lda, std::int64_t stride_a, const float* B, std::int64_t ldb,
                             std::int64_t stride_b, float beta, float* C, std::int64_t ldc, std::int64_t stride_c) {
  __shared__ float a_tile[kTile][kTile];
  __shared__ float b_tile[kTile][kTile];
  const std::int64_t batch = blockIdx.z;
  A += batch * stride_a;
  B += batch * stride_b;
  C += batch * stride_c;
  const std::int64_t row = blockIdx.y * kTile + threadIdx.y;
  const std::int64_t col = blockIdx.x * kTile + threadIdx.x;
  float acc = 0.0f;
  for (std::int64_t k0 = 0; k0 < K; k0 += kTile) {
    std::int64_t ka = k0 + threadIdx.x;
    std::int64_t kb = k0 + threadIdx.y;
    a_tile[threadIdx.y][threadIdx.x] = (row < M && ka < K) ? (trans_a ? A[ka * lda + row] : A[row * lda + ka]) : 0.0f;
    b_tile[threadIdx.y][threadIdx.x] = (col < N && kb < K) ? (trans_b ? B[col * ldb + kb] : B[kb * ldb + col]) : 0.0f;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kTile; ++k) acc += a_tile[threadIdx.y][k] * b_tile[k][threadIdx.x];
    __syncthreads();
  }
  if (row < M && col < N) {
    float* c = C + row * ldc + col;
    *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
  }
}

}  // namespace

void sgemm_strided_batched(bool transA, bool transB, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                           const float* A, std::int64_t lda, std::int64_t strideA, const float* B, std::int64_t ldb,
                           std::int64_t strideB, float beta, float* C, std::int64_t ldc, std::int64_t strideC,
                           std::int64_t batch) {
  if (M == 0 || N == 0 || batch == 0) return;
  dim3 block(kTile, kTile);
  dim3 grid(static_cast<unsigned>((N + kTile - 1) / kTile), static_cast<unsigned>((M + kTile - 1) / kTile),
            static_cast<unsigned>(batch));
  sgemm_kernel<<<grid, block>>>(transA, transB, M, N, K, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc,
                                strideC);
  check_last_launch("sgemm");
}

}  // namespace cuda
}  // namespace flexconv
