// The two copy patterns every plain-matrix packer reduces to. Implicit-GEMM packers of other
// ops may call these too.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace gemm {

// Panel of `width` floats per k from a matrix whose panel elements are strided rows:
//   dst[k * width + j] = src[j * ld + k]   for j < rows, k < kc;   0 for rows <= j < width.
// (A not transposed, or B transposed: the panel index runs across rows of the source.)
void pack_panel_transposed(const float* src, int64_t ld, int rows, int width, int64_t kc, float* dst);

// Panel of `width` floats per k from contiguous source rows:
//   dst[k * width + j] = src[k * ld + j]   for j < cols, k < kc;   0 for cols <= j < width.
void pack_panel_rows(const float* src, int64_t ld, int cols, int width, int64_t kc, float* dst);

}  // namespace gemm

namespace cpu {
// pack_panel_transposed, one copy per instruction set (pack_isa.cc).
#define FLEXCONV_PACK_PANEL_API \
  void pack_panel_transposed(const float* src, std::int64_t ld, int rows, int width, std::int64_t kc, float* dst);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_PACK_PANEL_API)
}  // namespace cpu
}  // namespace flexconv
