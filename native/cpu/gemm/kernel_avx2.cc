// AVX2 + FMA micro-kernel. Compiled with -mavx2 -mfma (this file only) and called only after
// run-time detection says the CPU has them.
//
// Tile: 6 rows x 16 columns in 12 ymm accumulators, 2 ymm for the B row and one broadcast
// register: 15 of the 16 ymm registers, the classic Haswell-class shape. N edges go through
// a small stack tile (AVX2 masked stores are slow and awkward for partial widths).
#include <immintrin.h>

#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {
namespace {

constexpr int kMr = 6;
constexpr int kNv = 2;
constexpr int kNr = kNv * 8;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
            float beta, int m, int n) {
  __m256 acc[kMr][kNv];
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
#pragma GCC unroll 2
    for (int v = 0; v < kNv; ++v) acc[i][v] = _mm256_setzero_ps();
  }
  for (int i = 0; i < m; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * kNr;
    const float* ak = a + k * kMr;
    const __m256 b0 = _mm256_load_ps(bk);
    const __m256 b1 = _mm256_load_ps(bk + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 ai = _mm256_broadcast_ss(ak + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  }

  const __m256 va = _mm256_set1_ps(alpha);
  const __m256 vb = _mm256_set1_ps(beta);
  if (n == kNr) {
    for (int i = 0; i < m; ++i) {
      float* ci = c + i * ldc;
      for (int v = 0; v < kNv; ++v) {
        __m256 r = _mm256_mul_ps(va, acc[i][v]);
        if (beta != 0.0f) r = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + v * 8), r);
        _mm256_storeu_ps(ci + v * 8, r);
      }
    }
    return;
  }
  alignas(32) float tile[kNr];
  for (int i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int v = 0; v < kNv; ++v) _mm256_store_ps(tile + v * 8, _mm256_mul_ps(va, acc[i][v]));
    if (beta == 0.0f) {
      for (int j = 0; j < n; ++j) ci[j] = tile[j];
    } else {
      for (int j = 0; j < n; ++j) ci[j] = tile[j] + beta * ci[j];
    }
  }
}

}  // namespace

MicroKernel avx2_kernel() { return {kMr, kNr, &kernel}; }

}  // namespace gemm
}  // namespace flexconv
