// A 2-D transpose between strided matrices, the kernel of permutes that move the input's
// contiguous dimension (NCHW <-> NHWC), compiled once per instruction set (cpu/transpose_isa.cc,
// core/isa.h).
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

// dst[c * dst_ld + r] = src[r * src_ld + c]   for r < rows, c < cols.
#define FLEXCONV_TRANSPOSE_API                                                                                    \
  void transpose_block(const float* src, std::int64_t src_ld, float* dst, std::int64_t dst_ld, std::int64_t rows, \
                       std::int64_t cols);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_TRANSPOSE_API)

}  // namespace cpu
}  // namespace flexconv
