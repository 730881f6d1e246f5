// AVX2 + FMA micro-kernel. Compiled with -mavx2 -mfma (this file only) and called only after
// run-time detection says the CPU has them.
//
// Tile: 6 rows x 16 columns in 12 ymm accumulators, 2 ymm for the B row and one broadcast
// register: 15 of the 16 ymm registers, the classic Haswell-class shape. As in the AVX-512
// kernel, edge tiles run an instantiation of their exact row count (1..6) and vector count
// (1..2); every loop over the tile has a compile-time trip count, so the accumulators stay
// in registers (a run-time row count in the store loop would make GCC keep them in memory).
#include <immintrin.h>

#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {
namespace {

constexpr int kMr = 6;
constexpr int kNvMax = 2;
constexpr int kNr = kNvMax * 8;

// c[0..n) = alpha * acc + beta * c[0..n) for n <= 8 (partial vectors go through the stack).
inline void store_vector(float* c, __m256 acc, __m256 va, float beta, int n) {
  __m256 r = _mm256_mul_ps(va, acc);
  if (n >= 8) {
    if (beta != 0.0f) r = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c), r);
    _mm256_storeu_ps(c, r);
    return;
  }
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, r);
  if (beta == 0.0f) {
    for (int j = 0; j < n; ++j) c[j] = tmp[j];
  } else {
    for (int j = 0; j < n; ++j) c[j] = tmp[j] + beta * c[j];
  }
}

template <int MR, int NV>
void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int n) {
  __m256 acc[MR][NV];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * kNr;
    const float* ak = a + k * kMr;
    __m256 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = _mm256_load_ps(bk + v * 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(ak + i);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha);
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) store_vector(c + i * ldc + v * 8, acc[i][v], va, beta, n - v * 8);
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, float*, int64_t, float, float, int);

// [m - 1][vectors - 1]
const TileFn kTiles[kMr][kNvMax] = {
    {&tile<1, 1>, &tile<1, 2>}, {&tile<2, 1>, &tile<2, 2>}, {&tile<3, 1>, &tile<3, 2>},
    {&tile<4, 1>, &tile<4, 2>}, {&tile<5, 1>, &tile<5, 2>}, {&tile<6, 1>, &tile<6, 2>},
};

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int m, int n) {
  kTiles[m - 1][(n + 7) / 8 - 1](kc, a, b, c, ldc, alpha, beta, n);
}

}  // namespace

MicroKernel avx2_kernel() { return {kMr, kNr, &kernel}; }

}  // namespace gemm
}  // namespace flexconv
