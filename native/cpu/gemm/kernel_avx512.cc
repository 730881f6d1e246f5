// AVX-512 micro-kernel. Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl (this file
// only) and called only after run-time detection says the CPU has them.
//
// Tile: 8 rows x 48 columns held in 24 zmm accumulators; 3 zmm hold the B row and one the
// broadcast A value. 24 independent FMA chains cover the FMA latency on both full-width
// and double-pumped (Zen 4) AVX-512 cores, and each k step issues 3 vector loads and 8
// broadcasts for 24 FMAs. mr = 8 divides the channel counts convolutions use (64, 128, ...).
//
// Edge tiles are not computed at full size: the kernel is instantiated for every row count
// 1..8 and every column-vector count 1..3, so a 5 x 20 corner costs 5 x 32 FMAs, not 8 x 48.
// The packed panels keep their full strides (mr, nr); only the used part is read.
#include <immintrin.h>

#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {
namespace {

constexpr int kMr = 8;
constexpr int kNvMax = 3;
constexpr int kNr = kNvMax * 16;

inline __mmask16 column_mask(int n, int v) {
  const int left = n - v * 16;
  if (left >= 16) return static_cast<__mmask16>(0xFFFF);
  return static_cast<__mmask16>((1u << left) - 1u);
}

// MR rows x NV*16 columns of the tile; `n` (<= NV*16) columns are stored.
template <int MR, int NV>
void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int n) {
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  // Pull the C tile towards L1 while the k loop runs; it is needed only at the end.
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    if (NV > 1) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * 16 - 1), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * kNr;
    const float* ak = a + k * kMr;
    __m512 bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(bk + v * 16);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(ak[i]);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }

  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v) mask[v] = column_mask(n, v);
  const bool full = n == NV * 16;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      __m512 r = _mm512_mul_ps(va, acc[i][v]);
      if (full) {
        // beta == 0 must not read C (it may hold NaN).
        if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + v * 16), r);
        _mm512_storeu_ps(ci + v * 16, r);
      } else {
        if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], ci + v * 16), r);
        _mm512_mask_storeu_ps(ci + v * 16, mask[v], r);
      }
    }
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, float*, int64_t, float, float, int);

template <int MR>
constexpr TileFn row_entry(int nv) {
  return nv == 1 ? &tile<MR, 1> : nv == 2 ? &tile<MR, 2> : &tile<MR, 3>;
}

// [m - 1][vectors - 1]
const TileFn kTiles[kMr][kNvMax] = {
    {row_entry<1>(1), row_entry<1>(2), row_entry<1>(3)}, {row_entry<2>(1), row_entry<2>(2), row_entry<2>(3)},
    {row_entry<3>(1), row_entry<3>(2), row_entry<3>(3)}, {row_entry<4>(1), row_entry<4>(2), row_entry<4>(3)},
    {row_entry<5>(1), row_entry<5>(2), row_entry<5>(3)}, {row_entry<6>(1), row_entry<6>(2), row_entry<6>(3)},
    {row_entry<7>(1), row_entry<7>(2), row_entry<7>(3)}, {row_entry<8>(1), row_entry<8>(2), row_entry<8>(3)},
};

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int m, int n) {
  if (m == kMr && n == kNr) {
    tile<kMr, kNvMax>(kc, a, b, c, ldc, alpha, beta, n);
    return;
  }
  kTiles[m - 1][(n + 15) / 16 - 1](kc, a, b, c, ldc, alpha, beta, n);
}

}  // namespace

MicroKernel avx512_kernel() { return {kMr, kNr, &kernel}; }

}  // namespace gemm
}  // namespace flexconv
