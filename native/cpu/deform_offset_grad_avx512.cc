// accumulate_offset_grad with AVX-512 intrinsics, 16 points per step: the corner pairs of
// each row come from one 64-bit gather each (as in deform_sample_avx512.cc) and are split
// into left / right corners with even / odd permutes; a masked step handles the tail, so
// every point takes the same arithmetic wherever it falls.
#include <immintrin.h>

#include <cstdint>

#include "cpu/deform_offset_grad.h"

// GCC reports the unset pass-through operand inside its own gather intrinsics as
// "may be used uninitialized" (a false positive in the headers, not in this code).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace flexconv {
namespace cpu {

void accumulate_offset_grad_avx512(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                                   const float* grad_col, float* gy, float* gx, float* gm) {
  const float* p2 = plane + padded_w;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i zero = _mm512_setzero_si512();
  for (std::int64_t j = 0; j < pts.count; j += 16) {
    const std::int64_t rem = pts.count - j;
    const __mmask16 k = rem >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << rem) - 1u);
    const __mmask8 k_lo = static_cast<__mmask8>(k & 0xff), k_hi = static_cast<__mmask8>(k >> 8);
    const __m512i idx = _mm512_maskz_loadu_epi32(k, pts.index + j);
    const __m256i idx_lo = _mm512_castsi512_si256(idx);
    const __m256i idx_hi = _mm512_extracti64x4_epi64(idx, 1);
    const __m512 top_lo = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(zero, k_lo, idx_lo, plane, 4));
    const __m512 top_hi = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(zero, k_hi, idx_hi, plane, 4));
    const __m512 bot_lo = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(zero, k_lo, idx_lo, p2, 4));
    const __m512 bot_hi = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(zero, k_hi, idx_hi, p2, 4));
    const __m512 v00 = _mm512_permutex2var_ps(top_lo, even, top_hi);
    const __m512 v01 = _mm512_permutex2var_ps(top_lo, odd, top_hi);
    const __m512 v10 = _mm512_permutex2var_ps(bot_lo, even, bot_hi);
    const __m512 v11 = _mm512_permutex2var_ps(bot_lo, odd, bot_hi);
    const __m512 hy = _mm512_maskz_loadu_ps(k, pts.hy + j), ly = _mm512_maskz_loadu_ps(k, pts.ly + j);
    const __m512 hx = _mm512_maskz_loadu_ps(k, pts.hx + j), lx = _mm512_maskz_loadu_ps(k, pts.lx + j);
    const __m512 g = _mm512_maskz_loadu_ps(k, grad_col + j);
    const __m512 top = _mm512_fmadd_ps(lx, v01, _mm512_mul_ps(hx, v00));
    const __m512 bot = _mm512_fmadd_ps(lx, v11, _mm512_mul_ps(hx, v10));
    const __m512 value = _mm512_fmadd_ps(ly, bot, _mm512_mul_ps(hy, top));
    const __m512 dx = _mm512_fmadd_ps(ly, _mm512_sub_ps(v11, v10), _mm512_mul_ps(hy, _mm512_sub_ps(v01, v00)));
    _mm512_mask_storeu_ps(gm + j, k, _mm512_fmadd_ps(g, value, _mm512_maskz_loadu_ps(k, gm + j)));
    _mm512_mask_storeu_ps(gy + j, k, _mm512_fmadd_ps(g, _mm512_sub_ps(bot, top), _mm512_maskz_loadu_ps(k, gy + j)));
    _mm512_mask_storeu_ps(gx + j, k, _mm512_fmadd_ps(g, dx, _mm512_maskz_loadu_ps(k, gx + j)));
  }
}

}  // namespace cpu
}  // namespace flexconv
