// AVX2 + FMA sampler for cpu/deform_sample.h, also used on AVX-512 machines. A corner's
// x-neighbour is the next float, so each row's pair of corners is one 64-bit load; four
// pixels' top pairs fill one 256-bit register (likewise the bottom pairs), the products are
// formed on the interleaved pairs and each pixel's pair summed with one horizontal add.
// Measured faster than AVX-512 gathers (dword or qword) on the EPYC machines this was tuned
// on, where gathers are slow.
#include <immintrin.h>

#include <cstdint>

#include "cpu/deform_sample.h"

namespace flexconv {
namespace cpu {
namespace {

inline __m128 load_pairs(const float* base, std::int32_t i0, std::int32_t i1) {
  return _mm_castpd_ps(_mm_loadh_pd(_mm_load_sd(reinterpret_cast<const double*>(base + i0)),
                                    reinterpret_cast<const double*>(base + i1)));
}

// Samples pixels q .. q+3 of r into out[0..3].
inline void sample4(const SampleRow& r, std::int64_t q, float* out) {
  const float* p0 = r.plane;
  const float* p2 = r.plane + r.padded_w;
  const std::int32_t* ix = r.index + q;
  const __m256 top = _mm256_insertf128_ps(_mm256_castps128_ps256(load_pairs(p0, ix[0], ix[1])), load_pairs(p0, ix[2], ix[3]), 1);
  const __m256 bot = _mm256_insertf128_ps(_mm256_castps128_ps256(load_pairs(p2, ix[0], ix[1])), load_pairs(p2, ix[2], ix[3]), 1);
  const __m256 s = _mm256_fmadd_ps(bot, _mm256_loadu_ps(r.w23 + 2 * q), _mm256_mul_ps(top, _mm256_loadu_ps(r.w01 + 2 * q)));
  const __m256 h = _mm256_hadd_ps(s, s);  // p0 p1 p0 p1 | p2 p3 p2 p3
  const __m128 lo = _mm256_castps256_ps128(h), hi = _mm256_extractf128_ps(h, 1);
  _mm_storeu_ps(out, _mm_castpd_ps(_mm_unpacklo_pd(_mm_castps_pd(lo), _mm_castps_pd(hi))));
}

// One pixel, the same per-pixel arithmetic as sample4: fma(bottom, w23, top * w01), then the
// pair's sum.
inline float sample1(const SampleRow& r, std::int64_t q) {
  const std::int32_t i = r.index[q];
  const __m128 top = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(r.plane + i)));
  const __m128 bot = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(r.plane + r.padded_w + i)));
  const __m128 w01 = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(r.w01 + 2 * q)));
  const __m128 w23 = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(r.w23 + 2 * q)));
  const __m128 s = _mm_fmadd_ps(bot, w23, _mm_mul_ps(top, w01));
  return _mm_cvtss_f32(_mm_hadd_ps(s, s));
}

inline void sample_run(const SampleRow& r, std::int64_t q, std::int64_t len, int nr, float* out) {
  std::int64_t j = 0;
  for (; j + 4 <= len; j += 4) sample4(r, q + j, out + j);
  for (; j < len; ++j) out[j] = sample1(r, q + j);
  for (; j < nr; ++j) out[j] = 0.0f;
}

}  // namespace

void sample_row_panels_avx2(const SampleRow& r, std::int64_t n, int nr, std::int64_t panel_stride, float* dst) {
  for (std::int64_t start = 0; start < n; start += nr) {
    const std::int64_t len = n - start < nr ? n - start : nr;
    sample_run(r, start, len, nr, dst + (start / nr) * panel_stride);
  }
}

void sample_block_avx2(const SampleRow* rows, std::int64_t kc, std::int64_t n, int nr, float* dst) {
  for (std::int64_t p0 = 0; p0 < n; p0 += nr) {
    const std::int64_t len = n - p0 < nr ? n - p0 : nr;
    float* panel = dst + (p0 / nr) * kc * nr;
    for (std::int64_t kk = 0; kk < kc; ++kk) sample_run(rows[kk], p0, len, nr, panel + kk * nr);
  }
}

}  // namespace cpu
}  // namespace flexconv
