// AVX2 transposing panel packer: 8 x 8 register transposes instead of one strided load per
// element. Compiled with -mavx2 -mfma; called only when the active ISA is AVX2 or better.
#include <immintrin.h>

#include "cpu/gemm/pack_kernels.h"

namespace flexconv {
namespace gemm {
namespace detail {
namespace {

// Columns k0..k0+7 of rows r[0..7] -> dst rows k0..k0+7 (8 floats each, stride `width`).
inline void transpose8x8(const __m256 r[8], float* dst, int64_t width) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * width, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(dst + 1 * width, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(dst + 2 * width, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(dst + 3 * width, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(dst + 4 * width, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(dst + 5 * width, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(dst + 6 * width, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(dst + 7 * width, _mm256_permute2f128_ps(s3, s7, 0x31));
}

}  // namespace

void pack_panel_transposed_avx2(const float* src, int64_t ld, int rows, int width, int64_t kc, float* dst) {
  if (width % 8 != 0) {
    pack_panel_transposed_portable(src, ld, rows, width, kc, dst);
    return;
  }
  const int64_t k8 = kc / 8 * 8;
  for (int j0 = 0; j0 < width; j0 += 8) {
    const int valid = rows - j0 < 8 ? (rows - j0 < 0 ? 0 : rows - j0) : 8;
    __m256 r[8];
    for (int64_t k0 = 0; k0 < k8; k0 += 8) {
      for (int j = 0; j < 8; ++j) {
        r[j] = j < valid ? _mm256_loadu_ps(src + (j0 + j) * ld + k0) : _mm256_setzero_ps();
      }
      transpose8x8(r, dst + k0 * width + j0, width);
    }
    for (int64_t k = k8; k < kc; ++k) {
      float* out = dst + k * width + j0;
      for (int j = 0; j < 8; ++j) out[j] = j < valid ? src[(j0 + j) * ld + k] : 0.0f;
    }
  }
}

}  // namespace detail
}  // namespace gemm
}  // namespace flexconv
