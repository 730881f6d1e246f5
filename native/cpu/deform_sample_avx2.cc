// AVX2 gathers for cpu/deform_sample.h: 8 pixels per step, one 64-bit gather per corner
// pair (the two x-neighbours are adjacent in memory); partial steps use the scalar loop.
#include <immintrin.h>

// GCC reports the unset pass-through operand inside its own gather intrinsics as
// "may be used uninitialized" (a false positive in the headers, not in this code).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "cpu/deform_sample.h"

namespace flexconv {
namespace cpu {

void sample_row_panels_avx2(const SampleRow& r, std::int64_t n, int nr, std::int64_t panel_stride, float* dst) {
  const float* p0 = r.plane;
  const float* p1 = r.plane + 1;
  const float* p2 = r.plane + r.padded_w;
  const float* p3 = p2 + 1;
  for (std::int64_t start = 0; start < n; start += nr) {
    float* out = dst + (start / nr) * panel_stride;
    const std::int64_t len = n - start < nr ? n - start : nr;
    std::int64_t j = 0;
    for (; j + 8 <= len; j += 8) {
      const std::int64_t q = start + j;
      const __m128i idx_lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r.index + q));
      const __m128i idx_hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r.index + q + 4));
      // Pixels 0..3 and 4..7, each as (left, right) pairs.
      const __m256 top_lo = _mm256_castpd_ps(_mm256_i32gather_pd(reinterpret_cast<const double*>(p0), idx_lo, 4));
      const __m256 top_hi = _mm256_castpd_ps(_mm256_i32gather_pd(reinterpret_cast<const double*>(p0), idx_hi, 4));
      const __m256 bot_lo = _mm256_castpd_ps(_mm256_i32gather_pd(reinterpret_cast<const double*>(p2), idx_lo, 4));
      const __m256 bot_hi = _mm256_castpd_ps(_mm256_i32gather_pd(reinterpret_cast<const double*>(p2), idx_hi, 4));
      const __m256 s_lo = _mm256_fmadd_ps(bot_lo, _mm256_loadu_ps(r.w23 + 2 * q),
                                          _mm256_mul_ps(top_lo, _mm256_loadu_ps(r.w01 + 2 * q)));
      const __m256 s_hi = _mm256_fmadd_ps(bot_hi, _mm256_loadu_ps(r.w23 + 2 * q + 8),
                                          _mm256_mul_ps(top_hi, _mm256_loadu_ps(r.w01 + 2 * q + 8)));
      // (s0+s1, s2+s3, ...) of both halves: hadd pairs within 128-bit lanes, then reorder.
      const __m256 sums = _mm256_hadd_ps(s_lo, s_hi);  // lo0 lo1 hi0 hi1 | lo2 lo3 hi2 hi3
      const __m256 ordered = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(sums), 0xD8));
      _mm256_storeu_ps(out + j, ordered);
    }
    for (; j < len; ++j) {
      const std::int64_t q = start + j;
      const std::int32_t i = r.index[q];
      const float* a = r.w01 + 2 * q;
      const float* b = r.w23 + 2 * q;
      out[j] = (a[0] * p0[i] + b[0] * p2[i]) + (a[1] * p1[i] + b[1] * p3[i]);
    }
    for (; j < nr; ++j) out[j] = 0.0f;
  }
}

}  // namespace cpu
}  // namespace flexconv
