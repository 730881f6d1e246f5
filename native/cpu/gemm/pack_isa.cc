// The transposing panel packer (cpu/gemm/pack_kernels.h), compiled once per instruction set
// (core/isa.h). With AVX2 it moves 8 x 8 blocks through registers instead of one strided load
// per element; the AVX-512 copy moves 16 x 16 blocks for panels a multiple of 16 wide (whole
// 64-byte lines out); otherwise, and for widths that are not a multiple of 8, it copies row by
// row.
#include <cstdint>

#include "cpu/gemm/pack_kernels.h"
#if defined(__AVX2__)
#include "cpu/transpose8_avx2.h"
#endif
#if defined(__AVX512F__)
#include "cpu/transpose16_avx512.h"
// GCC 12 reports the deliberately undefined source operand inside the shuffle intrinsics
// (_mm512_undefined_ps) as maybe-uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
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

#if defined(__AVX2__)
namespace {

// Panels a multiple of Block::kWidth wide by kWidth x kWidth blocks through registers (with 16,
// each panel row piece a whole 64-byte line: the AVX-512 micro-kernel's 48-wide B panels are
// three); the depth past the last whole block one float at a time.
template <class Block>
void pack_panel_blocks(const float* src, std::int64_t ld, int rows, int width, std::int64_t kc, float* dst) {
  constexpr int kW = Block::kWidth;
  const std::int64_t kfull = kc / kW * kW;
  for (int j0 = 0; j0 < width; j0 += kW) {
    const int valid = rows - j0 < kW ? (rows - j0 < 0 ? 0 : rows - j0) : kW;
    typename Block::Vec r[kW];
    for (std::int64_t k0 = 0; k0 < kfull; k0 += kW) {
      for (int j = 0; j < kW; ++j) r[j] = j < valid ? Block::loadu(src + (j0 + j) * ld + k0) : Block::zero();
      // Columns k0.. of the rows -> panel rows k0..
      Block::transpose(r);
      for (int i = 0; i < kW; ++i) Block::storeu(dst + (k0 + i) * width + j0, r[i]);
    }
    for (std::int64_t k = kfull; k < kc; ++k) {
      float* out = dst + k * width + j0;
      for (int j = 0; j < kW; ++j) out[j] = j < valid ? src[(j0 + j) * ld + k] : 0.0f;
    }
  }
}

}  // namespace
#endif

void pack_panel_transposed(const float* src, std::int64_t ld, int rows, int width, std::int64_t kc, float* dst) {
#if defined(__AVX512F__)
  if (width % 16 == 0) return pack_panel_blocks<TransposeBlock16>(src, ld, rows, width, kc, dst);
#endif
#if defined(__AVX2__)
  if (width % 8 == 0) return pack_panel_blocks<TransposeBlock8>(src, ld, rows, width, kc, dst);
#endif
  pack_rows_one_by_one(src, ld, rows, width, kc, dst);
}

FLEXCONV_ISA_END
