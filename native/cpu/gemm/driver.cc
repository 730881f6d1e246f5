// Blocked GEMM driver (BLIS-style loops) shared by every caller of gemm().
//
// A is packed once, whole, up front (it is the small operand of every conv: the weights);
// threads then take column chunks of C, pack their slice of B block by block (this is where
// implicit convolutions do their sampling) and run the micro-kernel over it.
#include <algorithm>
#include <vector>

#include "core/alloc.h"
#include "core/cpu_features.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "cpu/gemm/gemm.h"
#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {
namespace {

constexpr int64_t kKc = 256;   // depth of one packed block
constexpr int64_t kMc = 192;   // rows of A per L2-resident block
constexpr int64_t kNc = 1024;  // max columns a task owns

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* row = C + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + N, 0.0f);
    } else {
      for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
  }
}

}  // namespace

TileShape tile_shape() {
  MicroKernel k = kernel_for(active_isa());
  return {k.mr, k.nr};
}

void gemm(int64_t M, int64_t N, int64_t K, float alpha, const ASource& A, const BSource& B,
          float beta, float* C, int64_t ldc) {
  FLEXCONV_CHECK(M >= 0 && N >= 0 && K >= 0, ErrorCode::InvalidArgument,
                 "gemm: dimensions must be non-negative");
  if (M == 0 || N == 0) return;
  if (K == 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  const MicroKernel kern = kernel_for(active_isa());
  const int mr = kern.mr, nr = kern.nr;

  // Pack all of A: for each k block, the panels of all M rows.
  const int64_t m_padded = round_up(M, mr);
  const int64_t k_blocks = (K + kKc - 1) / kKc;
  AlignedBuffer<float> a_packed(static_cast<size_t>(m_padded * K));
  auto a_block = [&](int64_t kb) { return a_packed.data() + kb * kKc * m_padded; };
  {
    const int64_t m_chunks = (M + kMc - 1) / kMc;
    parallel_tasks(k_blocks * m_chunks, [&](int64_t task, int) {
      int64_t kb = task / m_chunks, mb = task % m_chunks;
      int64_t k0 = kb * kKc, kc = std::min(kKc, K - k0);
      int64_t m0 = mb * kMc, mc = std::min(kMc, M - m0);
      A.pack(m0, mc, k0, kc, mr, a_block(kb) + m0 * kc);
    });
  }

  // Column chunks: enough for every thread to have work, multiples of nr, at most kNc.
  const int threads = in_parallel_region() ? 1 : num_threads();
  int64_t chunk = round_up(std::max<int64_t>(1, (N + threads - 1) / threads), nr);
  chunk = std::min(chunk, round_up(kNc, nr));
  const int64_t n_chunks = (N + chunk - 1) / chunk;
  // When N alone cannot feed the threads, split M as well (B is then packed once per row
  // chunk; acceptable because N is small).
  int64_t m_splits = 1;
  if (n_chunks < threads && M > 2 * mr) {
    m_splits = std::min<int64_t>((threads + n_chunks - 1) / n_chunks, (M + mr - 1) / mr);
  }
  const int64_t m_split_rows = round_up((M + m_splits - 1) / m_splits, mr);
  m_splits = (M + m_split_rows - 1) / m_split_rows;

  std::vector<AlignedBuffer<float>> b_buffers(static_cast<size_t>(threads));
  parallel_tasks(n_chunks * m_splits, [&](int64_t task, int thread) {
    const int64_t nb = task / m_splits, ms = task % m_splits;
    const int64_t n0 = nb * chunk, nc = std::min(chunk, N - n0);
    const int64_t m_begin = ms * m_split_rows, m_end = std::min(M, m_begin + m_split_rows);
    AlignedBuffer<float>& b_buf = b_buffers[static_cast<size_t>(thread)];
    const size_t need = static_cast<size_t>(kKc * round_up(nc, nr));
    if (b_buf.size() < need) b_buf = AlignedBuffer<float>(static_cast<size_t>(kKc * round_up(chunk, nr)));
    for (int64_t kb = 0; kb < k_blocks; ++kb) {
      const int64_t k0 = kb * kKc, kc = std::min(kKc, K - k0);
      B.pack(k0, kc, n0, nc, nr, b_buf.data());
      const float block_beta = kb == 0 ? beta : 1.0f;
      const float* a_kb = a_block(kb);
      for (int64_t m0 = m_begin; m0 < m_end; m0 += mr) {
        const int m = static_cast<int>(std::min<int64_t>(mr, m_end - m0));
        const float* a_panel = a_kb + m0 * kc;
        for (int64_t j = 0; j < nc; j += nr) {
          const int n = static_cast<int>(std::min<int64_t>(nr, nc - j));
          kern.fn(kc, a_panel, b_buf.data() + j * kc, C + m0 * ldc + n0 + j, ldc, alpha,
                  block_beta, m, n);
        }
      }
    }
  });
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm(M, N, K, alpha, MatrixA(A, lda, transA), MatrixB(B, ldb, transB), beta, C, ldc);
}

void sgemm_strided_batched(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                           const float* A, int64_t lda, int64_t strideA, const float* B, int64_t ldb,
                           int64_t strideB, float beta, float* C, int64_t ldc, int64_t strideC,
                           int64_t batch) {
  for (int64_t b = 0; b < batch; ++b) {
    sgemm(transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB, ldb, beta,
          C + b * strideC, ldc);
  }
}

}  // namespace gemm
}  // namespace flexconv
