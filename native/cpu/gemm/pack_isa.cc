// The transposing panel packer (cpu/gemm/pack_kernels.h), compiled once per instruction set
// (core/isa.h). With AVX2 (also in the AVX-512 copy: packing is bandwidth-bound, and 8-wide
// transposes are the natural unit for panels of 8 or 48) it moves 8 x 8 blocks through
// registers instead of one strided load per element; otherwise, and for widths that are not a
// multiple of 8, it copies row by row.
#include <cstdint>

#include "cpu/gemm/pack_kernels.h"
#if defined(__AVX2__)
#include "cpu/transpose8_avx2.h"
#endif

FLEXCONV_ISA_BEGIN
namespace {

// Row by row: each source row is read contiguously (the writes stride by `width`, which stays
// within a few cache lines of the panel).
void pack_rows_one_by_one(const float* src, std::int64_t ld, int rows, int width, std::int64_t kc, float* dst) {
  for (int j = 0; j < rows; ++j) {
    const float* s = src + j * ld;
    for (std::int64_t k = 0; k < kc; ++k) dst[k * width + j] = s[k];
  }
  for (std::int64_t k = 0; k < kc; ++k) {
    for (int j = rows; j < width; ++j) dst[k * width + j] = 0.0f;
  }
}

}  // namespace

void pack_panel_transposed(const float* src, std::int64_t ld, int rows, int width, std::int64_t kc, float* dst) {
#if defined(__AVX2__)
  if (width % 8 == 0) {
    const std::int64_t k8 = kc / 8 * 8;
    for (int j0 = 0; j0 < width; j0 += 8) {
      const int valid = rows - j0 < 8 ? (rows - j0 < 0 ? 0 : rows - j0) : 8;
      __m256 r[8];
      for (std::int64_t k0 = 0; k0 < k8; k0 += 8) {
        for (int j = 0; j < 8; ++j) {
          r[j] = j < valid ? _mm256_loadu_ps(src + (j0 + j) * ld + k0) : _mm256_setzero_ps();
        }
        // Columns k0..k0+7 of the 8 rows -> panel rows k0..k0+7.
        transpose8x8(r);
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (k0 + i) * width + j0, r[i]);
      }
      for (std::int64_t k = k8; k < kc; ++k) {
        float* out = dst + k * width + j0;
        for (int j = 0; j < 8; ++j) out[j] = j < valid ? src[(j0 + j) * ld + k] : 0.0f;
      }
    }
    return;
  }
#endif
  pack_rows_one_by_one(src, ld, rows, width, kc, dst);
}

FLEXCONV_ISA_END
