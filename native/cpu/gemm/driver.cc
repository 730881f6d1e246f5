// Blocked GEMM driver (BLIS-style loops) shared by every caller of gemm().
//
// A is packed once, whole, up front (it is the small operand of every conv: the weights;
// callers that reuse it across calls keep a PackedA). Threads then take column chunks of C,
// pack their slice of B one kc x nc block at a time (this is where implicit convolutions do
// their sampling) and sweep every A micro-panel over it:
//
//   for each column chunk (a task)        B block kc x 4nr: L2-resident (192 KB)
//     for each k block                    packed B, reused by every row panel
//       for each row panel of mr rows     A micro-panel kc x mr: L1-resident (8 KB)
//         for each nr-column panel        micro-kernel: mr x nr tile in registers
//
// Chunks are balanced to whole nr panels, there are a multiple of `threads` of them (and
// more than one per thread when N allows, so a thread that loses its core on a shared
// machine is helped by the others), and the k blocking does not depend on the thread
// count: every element of C sees the same operations in the same order at any thread
// count, so results are bitwise identical at 1 and 2 threads.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/alloc.h"
#include "core/cpu_features.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "cpu/gemm/few_rows.h"
#include "cpu/gemm/gemm.h"
#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {
namespace {

// Depth of one packed block: K is cut into equal blocks of at most kKcMax (a multiple of 8;
// the A micro-panel, 8 x 320 floats = 10 KB, stays in L1 while B streams), not into 256-deep
// blocks and a thin remainder: a convolution's K = C * 9 (288, 576, ...) would otherwise end in a
// 32- or 64-deep block that reloads and stores all of C for a few steps (a 3x3 conv with 32
// input channels ran 256 + 32). Depends on K only: identical blocking at any thread count.
constexpr int64_t kKcMax = 320;

int64_t k_block(int64_t K) {
  const int64_t blocks = (K + kKcMax - 1) / kKcMax;
  return std::max<int64_t>(1, ((K + blocks - 1) / blocks + 7) / 8 * 8);
}
// Column panels (of nr) per task: B block kc x 4 x 48 floats = 192 KB, well inside a 1 MB
// L2. Small chunks make many tasks, which balances the threads to within a fraction of a
// chunk (and lets one thread take over when the other loses its core on a shared
// machine); the price, one extra pass of each A micro-panel per chunk, is about 1 byte per
// cycle from L2/L3. Single-thread speed was flat for 5 to 16 panels per chunk.
constexpr int64_t kChunkPanels = 4;
// Rows per task below which splitting M (which repacks the task's B block) costs more than
// the balance it buys: at 256 rows each packed B value feeds >= 16 cycles of FMAs.
constexpr int64_t kMinSplitRows = 256;
// Tasks per thread to aim for.
constexpr int64_t kTasksPerThread = 4;
// Row panels per A-packing task.
constexpr int64_t kMcPanels = 24;
// Below this many multiply-adds a GEMM runs on the calling thread: waking workers costs
// more than it saves.
constexpr int64_t kParallelMinMacs = int64_t(1) << 20;
// Below this many floats, A is packed on the calling thread.
constexpr int64_t kParallelMinPackFloats = int64_t(1) << 16;

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
int64_t ceil_div(int64_t x, int64_t m) { return (x + m - 1) / m; }

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

// Per-thread packing scratch reused across calls (core/alloc.h).
thread_local ThreadScratch t_a_scratch;
thread_local ThreadScratch t_b_scratch;

// Runs fn(task, thread) for every task, on the pool unless `parallel` is false.
template <typename Fn>
void run_tasks(int64_t tasks, bool parallel, const Fn& fn) {
  if (!parallel || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
    return;
  }
  parallel_tasks(tasks, fn);
}

// Packed A layout: K blocks of k_block(K); block kb starts at kb * k_block(K) * m_padded and holds the
// ceil(M / mr) panels of its kc columns (kc x mr each), one after another.
void pack_a(int64_t M, int64_t K, const ASource& A, int mr, float* dst, bool parallel) {
  const int64_t m_padded = round_up(M, mr);
  const int64_t kKc = k_block(K);
  const int64_t k_blocks = ceil_div(K, kKc);
  const int64_t mc = kMcPanels * mr;  // a multiple of mr, as the layout requires
  const int64_t m_chunks = ceil_div(M, mc);
  run_tasks(k_blocks * m_chunks, parallel, [&](int64_t task, int) {
    const int64_t kb = task / m_chunks, mb = task % m_chunks;
    const int64_t k0 = kb * kKc, kc = std::min(kKc, K - k0);
    const int64_t m0 = mb * mc, rows = std::min(mc, M - m0);
    A.pack(m0, rows, k0, kc, mr, dst + kb * kKc * m_padded + m0 * kc);
  });
}

// C = alpha * A * B + beta * C with A packed; B is packed block by block from `B`, or read in
// place from `b_packed` (packed_b_layout's layout, the whole of B) when that is not null.
void multiply(int64_t M, int64_t N, int64_t K, float alpha, const float* a_packed, const MicroKernel& kern,
              const BSource* B, const float* b_packed, float beta, float* C, int64_t ldc) {
  const int mr = kern.mr, nr = kern.nr;
  const int64_t m_padded = round_up(M, mr);
  const int64_t kKc = k_block(K);
  const int64_t k_blocks = ceil_div(K, kKc);
  const bool parallel = runs_parallel(M, N, K);
  const int64_t threads = parallel ? num_threads() : 1;

  // Column chunks in whole panels, balanced; a multiple of the thread count.
  const int64_t panels = ceil_div(N, nr);
  int64_t n_chunks = ceil_div(panels, kChunkPanels);
  n_chunks = std::min(round_up(n_chunks, threads), panels);
  // A panel or less per thread (a batch-1 layer on an 8x8 map: 64 columns): the threads split
  // the rows instead, so that A (the weights, megabytes of them, streamed from memory when a
  // network's layers run one after another) is read once between them rather than once by
  // each, and B, a few panels, is packed by both (a deformable ResNet-34 at batch 1 measured 6%
  // faster this way than with the columns split 32 + 32, whose weights each thread streamed).
  if (threads > 1 && panels <= threads && M >= 2 * threads * mr) n_chunks = 1;
  // With a chunk or two per thread, whole panels cannot balance them (256 columns: 144 + 112);
  // such chunks are cut at vector boundaries instead (128 + 128), at the price of a narrower
  // edge tile. Many chunks keep whole panels: their imbalance is a fraction of a chunk. (Each
  // element of C sees the same operations wherever the cut falls.)
  // (A packed B is cut at its panels.)
  const int64_t unit = threads > 1 && n_chunks <= 2 * threads && b_packed == nullptr ? kern.lanes : nr;
  const int64_t units = ceil_div(N, unit);
  // Too few chunks to balance well: split M too when the rows are many (B is then packed
  // once per row range), or whenever N alone cannot feed the threads.
  int64_t m_splits = 1;
  if (threads > 1 && n_chunks < kTasksPerThread * threads) {
    m_splits = std::min(ceil_div(kTasksPerThread * threads, n_chunks), std::max<int64_t>(1, M / kMinSplitRows));
  }
  if (n_chunks < threads && M > 2 * mr) {
    m_splits = std::max(m_splits, std::min(ceil_div(threads, n_chunks), ceil_div(M, mr)));
  }
  const int64_t m_split_rows = round_up(ceil_div(M, m_splits), mr);
  m_splits = ceil_div(M, m_split_rows);
  const int64_t widest = round_up(ceil_div(units, n_chunks) * unit, nr);

  run_tasks(n_chunks * m_splits, parallel, [&](int64_t task, int) {
    const int64_t nb = task / m_splits, ms = task % m_splits;
    const int64_t n0 = std::min(N, nb * units / n_chunks * unit);
    const int64_t n1 = std::min(N, (nb + 1) * units / n_chunks * unit);
    const int64_t nc = n1 - n0;
    const int64_t m_begin = ms * m_split_rows, m_end = std::min(M, m_begin + m_split_rows);
    if (nc <= 0 || m_begin >= m_end) return;
    AlignedBuffer<float> overflow;
    float* scratch = b_packed ? nullptr : t_b_scratch.get(static_cast<size_t>(std::min(kKc, K) * widest), overflow);
    for (int64_t kb = 0; kb < k_blocks; ++kb) {
      const int64_t k0 = kb * kKc, kc = std::min(kKc, K - k0);
      const float* b_buf = scratch;
      if (b_packed) {
        b_buf = b_packed + kb * kKc * round_up(N, nr) + n0 * kc;
      } else {
        B->pack(k0, kc, n0, nc, nr, scratch);
      }
      const float block_beta = kb == 0 ? beta : 1.0f;
      const float* a_kb = a_packed + kb * kKc * m_padded;
      for (int64_t m0 = m_begin; m0 < m_end; m0 += mr) {
        const int m = static_cast<int>(std::min<int64_t>(mr, m_end - m0));
        const float* a_panel = a_kb + m0 * kc;
        float* c_row = C + m0 * ldc + n0;
        for (int64_t j = 0; j < nc; j += nr) {
          const int n = static_cast<int>(std::min<int64_t>(nr, nc - j));
          kern.fn(kc, a_panel, b_buf + j * kc, c_row + j, ldc, alpha, block_beta, m, n);
        }
      }
    }
  });
}

// multiply() with A packed first, into this thread's scratch.
void multiply_packing_a(int64_t M, int64_t N, int64_t K, float alpha, const ASource& A, const MicroKernel& kern,
                        const BSource* B, const float* b_packed, float beta, float* C, int64_t ldc) {
  AlignedBuffer<float> overflow;
  const int64_t a_floats = round_up(M, kern.mr) * K;
  float* a_packed = t_a_scratch.get(static_cast<size_t>(a_floats), overflow);
  // A small A (the weights of a thin conv: 32 x 576 floats) packs in microseconds: waking the
  // workers for it costs as much, once per call (as PackedA does).
  pack_a(M, K, A, kern.mr, a_packed, runs_parallel(M, N, K) && a_floats >= kParallelMinPackFloats);
  multiply(M, N, K, alpha, a_packed, kern, B, b_packed, beta, C, ldc);
}

bool trivial(int64_t M, int64_t N, int64_t K, float alpha, float beta, float* C, int64_t ldc) {
  FLEXCONV_CHECK(M >= 0 && N >= 0 && K >= 0, ErrorCode::InvalidArgument, "gemm: dimensions must be non-negative");
  if (M == 0 || N == 0) return true;
  if (K == 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    return true;
  }
  return false;
}

}  // namespace

bool one_depth_block(int64_t K) { return k_block(K) >= K; }

bool runs_parallel(int64_t M, int64_t N, int64_t K) {
  return !in_parallel_region() && num_threads() > 1 && M * N * K >= kParallelMinMacs;
}

TileShape tile_shape() {
  MicroKernel k = kernel_for(active_isa());
  return {k.mr, k.nr};
}

void gemm(int64_t M, int64_t N, int64_t K, float alpha, const ASource& A, const BSource& B, float beta, float* C,
          int64_t ldc) {
  if (trivial(M, N, K, alpha, beta, C, ldc)) return;
  multiply_packing_a(M, N, K, alpha, A, kernel_for(active_isa()), &B, nullptr, beta, C, ldc);
}

PackedA::PackedA(int64_t M, int64_t K, const ASource& A) : M_(M), K_(K) {
  FLEXCONV_CHECK(M >= 0 && K >= 0, ErrorCode::InvalidArgument, "PackedA: dimensions must be non-negative");
  const Isa isa = active_isa();
  isa_ = static_cast<int>(isa);
  mr_ = kernel_for(isa).mr;
  const int64_t count = round_up(M, mr_) * K;
  if (count > 0) {
    data_ = static_cast<float*>(aligned_malloc(static_cast<size_t>(count) * sizeof(float)));
    pack_a(M, K, A, mr_, data_, !in_parallel_region() && num_threads() > 1 && count >= kParallelMinPackFloats);
  }
}

PackedA::~PackedA() { aligned_free(data_); }

int64_t PackedA::size() const { return data_ ? round_up(M_, mr_) * K_ : 0; }

PackedA PackedA::empty_like() const {
  PackedA out;
  out.M_ = M_;
  out.K_ = K_;
  out.isa_ = isa_;
  out.mr_ = mr_;
  if (data_) out.data_ = static_cast<float*>(aligned_malloc(static_cast<size_t>(size()) * sizeof(float)));
  return out;
}

PackedA::PackedA(PackedA&& other) noexcept
    : M_(other.M_), K_(other.K_), isa_(other.isa_), mr_(other.mr_), data_(other.data_) {
  other.data_ = nullptr;
  other.M_ = other.K_ = 0;
}

PackedA& PackedA::operator=(PackedA&& other) noexcept {
  if (this != &other) {
    aligned_free(data_);
    M_ = other.M_;
    K_ = other.K_;
    isa_ = other.isa_;
    mr_ = other.mr_;
    data_ = other.data_;
    other.data_ = nullptr;
    other.M_ = other.K_ = 0;
  }
  return *this;
}

void gemm(int64_t N, float alpha, const PackedA& A, const BSource& B, float beta, float* C, int64_t ldc) {
  if (trivial(A.M_, N, A.K_, alpha, beta, C, ldc)) return;
  const MicroKernel kern = kernel_for(static_cast<Isa>(A.isa_));
  multiply(A.M_, N, A.K_, alpha, A.data_, kern, &B, nullptr, beta, C, ldc);
}

PackedB::PackedB(int64_t K, int64_t N, const BSource& B) : K_(K), N_(N) {
  FLEXCONV_CHECK(K >= 0 && N >= 0, ErrorCode::InvalidArgument, "PackedB: dimensions must be non-negative");
  const Isa isa = active_isa();
  isa_ = static_cast<int>(isa);
  nr_ = kernel_for(isa).nr;
  if (size() == 0) return;
  data_ = static_cast<float*>(aligned_malloc(static_cast<size_t>(size()) * sizeof(float)));
  // Zeros first: a source need not write the last panel past the width the kernels read.
  std::memset(data_, 0, static_cast<size_t>(size()) * sizeof(float));
  const int64_t n_padded = round_up(N, nr_), kKc = k_block(K), k_blocks = ceil_div(K, kKc);
  const int64_t chunk = kChunkPanels * nr_, n_chunks = ceil_div(N, chunk);
  const bool parallel = !in_parallel_region() && num_threads() > 1 && size() >= kParallelMinPackFloats;
  run_tasks(k_blocks * n_chunks, parallel, [&](int64_t task, int) {
    const int64_t kb = task / n_chunks, n0 = task % n_chunks * chunk;
    const int64_t k0 = kb * kKc, kc = std::min(kKc, K - k0);
    B.pack(k0, kc, n0, std::min(chunk, N - n0), nr_, data_ + kb * kKc * n_padded + n0 * kc);
  });
}

PackedB::~PackedB() { aligned_free(data_); }

int64_t PackedB::size() const { return K_ * round_up(N_, nr_); }

void gemm(int64_t M, float alpha, const ASource& A, const PackedB& B, float beta, float* C, int64_t ldc) {
  if (trivial(M, B.N_, B.K_, alpha, beta, C, ldc)) return;
  multiply_packing_a(M, B.N_, B.K_, alpha, A, kernel_for(static_cast<Isa>(B.isa_)), nullptr, B.data_, beta, C, ldc);
}

PackedBLayout packed_b_layout(const PackedA& A, int64_t N) {
  const int64_t nr = kernel_for(static_cast<Isa>(A.isa_)).nr;
  return {A.K_, k_block(A.K_), nr, round_up(N, nr)};
}

void gemm_packed_b(int64_t N, float alpha, const PackedA& A, const float* b, float beta, float* C, int64_t ldc) {
  if (trivial(A.M_, N, A.K_, alpha, beta, C, ldc)) return;
  const MicroKernel kern = kernel_for(static_cast<Isa>(A.isa_));
  const PackedBLayout layout = packed_b_layout(A, N);
  const int64_t M = A.M_, K = A.K_, mr = kern.mr, nr = kern.nr;
  const int64_t m_padded = round_up(M, mr), panels = layout.n_padded / nr;
  // The driver's loops (multiply) over chunks of kChunkPanels panels, without the packing: every
  // element of C sees the same operations in the same order as through gemm().
  for (int64_t p0 = 0; p0 < panels; p0 += kChunkPanels) {
    const int64_t p1 = std::min(panels, p0 + kChunkPanels);
    for (int64_t k0 = 0; k0 < K; k0 += layout.k_block) {
      const int64_t kc = std::min(layout.k_block, K - k0);
      const float block_beta = k0 == 0 ? beta : 1.0f;
      const float* a_kb = A.data_ + k0 * m_padded;
      const float* b_kb = b + k0 * layout.n_padded;
      for (int64_t m0 = 0; m0 < M; m0 += mr) {
        const int m = static_cast<int>(std::min<int64_t>(mr, M - m0));
        for (int64_t p = p0; p < p1; ++p) {
          const int n = static_cast<int>(std::min<int64_t>(nr, N - p * nr));
          kern.fn(kc, a_kb + m0 * kc, b_kb + p * kc * nr, C + m0 * ldc + p * nr, ldc, alpha, block_beta, m, n);
        }
      }
    }
  }
}

void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (!transA && transB && few_rows_pays(M, K)) {
    if (!trivial(M, N, K, alpha, beta, C, ldc)) gemm_few_rows_nt(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  gemm(M, N, K, alpha, MatrixA(A, lda, transA), MatrixB(B, ldb, transB), beta, C, ldc);
}

void sgemm_strided_batched(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                           int64_t lda, int64_t strideA, const float* B, int64_t ldb, int64_t strideB, float beta,
                           float* C, int64_t ldc, int64_t strideC, int64_t batch) {
  if (batch <= 0) return;
  // Small GEMMs run serially on their own, so spread the batch over the threads instead
  // (each item is still computed exactly as alone: results do not depend on the split).
  const bool across_batch = batch > 1 && !in_parallel_region() && num_threads() > 1 && !runs_parallel(M, N, K);
  if (batch > 1 && strideA == 0 && M > 0 && N > 0 && K > 0 && alpha != 0.0f) {
    // A shared by the whole batch (a weight): pack it once.
    PackedA packed(M, K, MatrixA(A, lda, transA));
    auto item = [&](int64_t b) {
      gemm(N, alpha, packed, MatrixB(B + b * strideB, ldb, transB), beta, C + b * strideC, ldc);
    };
    if (across_batch) {
      parallel_for(batch, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) item(b);
      });
    } else {
      for (int64_t b = 0; b < batch; ++b) item(b);
    }
    return;
  }
  auto item = [&](int64_t b) {
    sgemm(transA, transB, M, N, K, alpha, A + b * strideA, lda, B + b * strideB, ldb, beta, C + b * strideC, ldc);
  };
  if (across_batch) {
    parallel_for(batch, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) item(b);
    });
  } else {
    for (int64_t b = 0; b < batch; ++b) item(b);
  }
}

}  // namespace gemm
}  // namespace flexconv
