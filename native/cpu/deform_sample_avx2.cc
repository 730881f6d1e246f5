// AVX2 gathers for cpu/deform_sample.h: 8 pixels per step; partial steps use the portable loop.
#include <immintrin.h>

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
      const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r.index + q));
      __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(r.w0 + q), _mm256_i32gather_ps(p0, idx, 4));
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(r.w1 + q), _mm256_i32gather_ps(p1, idx, 4), acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(r.w2 + q), _mm256_i32gather_ps(p2, idx, 4), acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(r.w3 + q), _mm256_i32gather_ps(p3, idx, 4), acc);
      _mm256_storeu_ps(out + j, acc);
    }
    for (; j < len; ++j) {
      const std::int64_t q = start + j;
      const std::int32_t i = r.index[q];
      out[j] = r.w0[q] * p0[i] + r.w1[q] * p1[i] + r.w2[q] * p2[i] + r.w3[q] * p3[i];
    }
    for (; j < nr; ++j) out[j] = 0.0f;
  }
}

}  // namespace cpu
}  // namespace flexconv
