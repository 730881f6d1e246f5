// AVX-512 gathers for cpu/deform_sample.h: 16 pixels per step, 4 gathers (one per corner).
#include <immintrin.h>

#include "cpu/deform_sample.h"

namespace flexconv {
namespace cpu {

void sample_row_panels_avx512(const SampleRow& r, std::int64_t n, int nr, std::int64_t panel_stride, float* dst) {
  const float* p0 = r.plane;
  const float* p1 = r.plane + 1;
  const float* p2 = r.plane + r.padded_w;
  const float* p3 = p2 + 1;
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
      const __mmask16 k = rem >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << rem) - 1u);
      const __m512i idx = _mm512_maskz_loadu_epi32(k, r.index + q);
      const __m512 zero = _mm512_setzero_ps();
      __m512 acc = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, r.w0 + q), _mm512_mask_i32gather_ps(zero, k, idx, p0, 4));
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, r.w1 + q), _mm512_mask_i32gather_ps(zero, k, idx, p1, 4), acc);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, r.w2 + q), _mm512_mask_i32gather_ps(zero, k, idx, p2, 4), acc);
      acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, r.w3 + q), _mm512_mask_i32gather_ps(zero, k, idx, p3, 4), acc);
      _mm512_mask_storeu_ps(out + j, store_mask, acc);
    }
  }
}

}  // namespace cpu
}  // namespace flexconv
