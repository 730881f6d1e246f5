// CUDA GEMM behind the same interface as cpu/gemm: row-major, device pointers.
#pragma once
#include <cstdint>

namespace flexconv {
namespace cuda {

void sgemm_strided_batched(bool transA, bool transB, std::int64_t M, std::int64_t N, std::int64_t K, float alpha,
                           const float* A, std::int64_t lda, std::int64_t strideA, const float* B, std::int64_t ldb,
                           std::int64_t strideB, float beta, float* C, std::int64_t ldc, std::int64_t strideC,
                           std::int64_t batch);

}  // namespace cuda
}  // namespace flexconv
