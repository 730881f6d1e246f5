// The row loops of the convolutions' inference epilogue (cpu/conv_epilogue.h), compiled once per
// instruction set (cpu/conv_epilogue_rows_isa.cc, core/isa.h): a 3-channel stem's bias and ReLU
// pass over its 64 x 1024 output took a fifth of the conv's time in 4-wide SSE loops.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

// prefill_rows: c[r * ldc + j] = bias[r] (0 without bias) + residual[r * ldr + j] (nothing without).
// relu_rows_of: c = max(0, c), NaN kept.
// add_bias_rows_of: c += bias[r], then max(0, .) if relu.
// add_rows: out[i] += residual[i] for i < n.
#define FLEXCONV_CONV_EPILOGUE_ROWS_API                                                                      \
  void prefill_rows(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias,     \
                    const float* residual, std::int64_t ldr);                                                \
  void relu_rows_of(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols);                       \
  void add_bias_rows_of(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias, \
                        bool relu);                                                                          \
  void add_rows(float* out, const float* residual, std::int64_t n);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_CONV_EPILOGUE_ROWS_API)
#undef FLEXCONV_CONV_EPILOGUE_ROWS_API

}  // namespace cpu
}  // namespace flexconv
