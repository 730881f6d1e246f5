// C = alpha * A * B^T + beta * C for A of a few rows (M <= kFewRowsMax): a linear layer at
// batch 1 to 8, y = x W^T with W [N, K] row-major. Each element of C is one dot product of a row
// of A with a row of W, both contiguous, so W is read once, straight from where it lies. The
// packed GEMM would first transpose W into panels (for a 512 x 1000 classifier that is 2 MB
// copied to multiply by one image: 2.2x the time of ONNX Runtime's Gemm at batch 1).
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace gemm {

constexpr std::int64_t kFewRowsMax = 8;

// Whether the few-rows path beats the packed GEMM: each element of C ends with a sum across the
// lanes of its accumulator, which short rows do not repay (measured both ways on 1000 columns:
// 8 rows of 32 floats 1.27x slower by dot products, of 64 as fast; 1 row of 16 1.14x faster).
inline bool few_rows_pays(std::int64_t M, std::int64_t K) { return M <= kFewRowsMax && K >= 8 * M; }

// Columns [n0, n1) of C (M x N, row stride ldc) = alpha * A (M x K, lda) * B^T + beta * C, B
// given as N x K (ldb). beta == 0 never reads C. Every element's sum runs in one fixed order
// (k ascending by vectors, then the lanes pairwise), whatever the column range: results do not
// depend on how the columns are split between threads.
void gemm_few_rows_nt(std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A, std::int64_t lda,
                      const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc);

}  // namespace gemm

namespace cpu {
#define FLEXCONV_GEMM_FEW_ROWS_API                                                                              \
  void gemm_few_rows_nt_columns(int rows, std::int64_t n0, std::int64_t n1, std::int64_t K, float alpha,        \
                                const float* A, std::int64_t lda, const float* B, std::int64_t ldb, float beta, \
                                float* C, std::int64_t ldc);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_GEMM_FEW_ROWS_API)
}  // namespace cpu
}  // namespace flexconv
