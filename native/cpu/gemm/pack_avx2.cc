// AVX2 transposing panel packer: 8 x 8 register transposes instead of one strided load per
// element. Compiled with -mavx2 -mfma; called only when the active ISA is AVX2 or better.
#include <immintrin.h>

#include "cpu/gemm/pack_kernels.h"
#include "cpu/transpose8_avx2.h"

namespace flexconv {
namespace gemm {
namespace detail {
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
      // Columns k0..k0+7 of the 8 rows -> panel rows k0..k0+7.
      cpu::transpose8x8(r);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (k0 + i) * width + j0, r[i]);
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
