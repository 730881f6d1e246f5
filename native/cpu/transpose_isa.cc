// cpu/transpose.h's block transpose. With AVX2 (also in the AVX-512 copy: a transpose moves
// memory, and 8 x 8 is the natural register block) 8 rows of 8 floats go through registers and
// leave as 8 columns; the ragged edges, and the portable copy, go element by element in 8 x 8
// blocks, so that both sides stay within a few cache lines at a time.
#include <algorithm>
#include <cstdint>

#include "cpu/transpose.h"
#if defined(__AVX2__)
#include "cpu/transpose8_avx2.h"
#endif

FLEXCONV_ISA_BEGIN
namespace {

constexpr std::int64_t kBlock = 8;

void transpose_scalar(const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld, std::int64_t r0,
                      std::int64_t r1, std::int64_t c0, std::int64_t c1) {
  for (std::int64_t c = c0; c < c1; ++c) {
    for (std::int64_t r = r0; r < r1; ++r) dst[c * dst_ld + r] = src[r * src_ld + c];
  }
}

}  // namespace

void transpose_block(const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld, std::int64_t rows,
                     std::int64_t cols) {
  const std::int64_t rows8 = rows / kBlock * kBlock, cols8 = cols / kBlock * kBlock;
  for (std::int64_t r0 = 0; r0 < rows8; r0 += kBlock) {
    for (std::int64_t c0 = 0; c0 < cols8; c0 += kBlock) {
#if defined(__AVX2__)
      __m256 v[8];
      for (int i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(src + (r0 + i) * src_ld + c0);
      transpose8x8(v);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (c0 + i) * dst_ld + r0, v[i]);
#else
      transpose_scalar(src, src_ld, dst, dst_ld, r0, r0 + kBlock, c0, c0 + kBlock);
#endif
    }
    transpose_scalar(src, src_ld, dst, dst_ld, r0, r0 + kBlock, cols8, cols);
  }
  for (std::int64_t c0 = 0; c0 < cols; c0 += kBlock) {
    transpose_scalar(src, src_ld, dst, dst_ld, rows8, rows, c0, std::min(cols, c0 + kBlock));
  }
}

FLEXCONV_ISA_END
