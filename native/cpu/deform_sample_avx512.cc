// AVX-512 gathers for cpu/deform_sample.h. A corner's x-neighbour is the next float, so one
// 64-bit gather fetches both corners of a row: 16 pixels take four 8-element gathers (top and
// bottom rows of pixels 0..7 and 8..15) instead of four 16-element ones. Products are formed
// on the interleaved pairs and the pairs summed after an even/odd permute.
#include <immintrin.h>

// GCC reports the unset pass-through operand inside its own gather intrinsics as
// "may be used uninitialized" (a false positive in the headers, not in this code).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "cpu/deform_sample.h"

namespace flexconv {
namespace cpu {

void sample_row_panels_avx512(const SampleRow& r, std::int64_t n, int nr, std::int64_t panel_stride, float* dst) {
  const float* p0 = r.plane;
  const float* p2 = r.plane + r.padded_w;
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (std::int64_t start = 0; start < n; start += nr) {
    float* out = dst + (start / nr) * panel_stride;
    const std::int64_t len = n - start < nr ? n - start : nr;
    for (int j = 0; j < nr; j += 16) {
      const std::int64_t rem = len - j;
      const int width = nr - j < 16 ? nr - j : 16;
      const __mmask16 store_mask = static_cast<__mmask16>((1u << width) - 1u);
      if (rem <= 0) {
        _mm512_mask_storeu_ps(out + j, store_mask, _mm512_setzero_ps());
        continue;
      }
      const std::int64_t q = start + j;
      const int active = rem >= 16 ? 16 : static_cast<int>(rem);
      const __mmask16 k = static_cast<__mmask16>((1u << active) - 1u);
      const __mmask8 k_lo = static_cast<__mmask8>(k & 0xff), k_hi = static_cast<__mmask8>(k >> 8);
      // Weight pairs: lanes 2i, 2i+1 of pixel i; masks cover 2 lanes per active pixel.
      const __mmask16 kw_lo = static_cast<__mmask16>(active >= 8 ? 0xffffu : (1u << (2 * active)) - 1u);
      const __mmask16 kw_hi = static_cast<__mmask16>(active <= 8 ? 0u : active >= 16 ? 0xffffu : (1u << (2 * (active - 8))) - 1u);
      const __m512i idx = _mm512_maskz_loadu_epi32(k, r.index + q);
      const __m256i idx_lo = _mm512_castsi512_si256(idx);
      const __m256i idx_hi = _mm512_extracti64x4_epi64(idx, 1);
      const __m512i zero = _mm512_setzero_si512();
      const __m512 top_lo = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(zero, k_lo, idx_lo, p0, 4));
      const __m512 top_hi = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(zero, k_hi, idx_hi, p0, 4));
      const __m512 bot_lo = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(zero, k_lo, idx_lo, p2, 4));
      const __m512 bot_hi = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(zero, k_hi, idx_hi, p2, 4));
      const __m512 s_lo = _mm512_fmadd_ps(bot_lo, _mm512_maskz_loadu_ps(kw_lo, r.w23 + 2 * q),
                                          _mm512_mul_ps(top_lo, _mm512_maskz_loadu_ps(kw_lo, r.w01 + 2 * q)));
      const __m512 s_hi = _mm512_fmadd_ps(bot_hi, _mm512_maskz_loadu_ps(kw_hi, r.w23 + 2 * q + 16),
                                          _mm512_mul_ps(top_hi, _mm512_maskz_loadu_ps(kw_hi, r.w01 + 2 * q + 16)));
      const __m512 acc = _mm512_add_ps(_mm512_permutex2var_ps(s_lo, even, s_hi), _mm512_permutex2var_ps(s_lo, odd, s_hi));
      _mm512_mask_storeu_ps(out + j, store_mask, acc);
    }
  }
}

}  // namespace cpu
}  // namespace flexconv
