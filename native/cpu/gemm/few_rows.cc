#include "cpu/gemm/few_rows.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "cpu/gemm/gemm.h"

namespace flexconv {
namespace gemm {

void gemm_few_rows_nt(std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A, std::int64_t lda,
                      const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  using namespace cpu;  // the per-ISA copies live in cpu::isa_<set>
  const auto run = FLEXCONV_PICK_ISA(gemm_few_rows_nt_columns);
  const int rows = static_cast<int>(M);
  auto columns = [&](std::int64_t n0, std::int64_t n1) { run(rows, n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc); };
  if (!runs_parallel(M, N, K)) {
    columns(0, N);
    return;
  }
  // Ranges of at least 64 K multiply-adds: each thread streams its own part of B.
  parallel_for(N, columns, std::max<std::int64_t>(1, (std::int64_t(1) << 16) / std::max<std::int64_t>(1, M * K)));
}

}  // namespace gemm
}  // namespace flexconv
