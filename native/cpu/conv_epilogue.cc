#include "cpu/conv_epilogue.h"

#include "cpu/conv_epilogue_rows.h"

namespace flexconv {
namespace cpu {

float prefill_output(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias,
                     const float* residual, std::int64_t ldr) {
  if (!bias && !residual) return 0.0f;
  FLEXCONV_PICK_ISA(prefill_rows)(c, ldc, rows, cols, bias, residual, ldr);
  return 1.0f;
}

void relu_rows(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols) {
  FLEXCONV_PICK_ISA(relu_rows_of)(c, ldc, rows, cols);
}

void add_bias_rows(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias, bool relu) {
  FLEXCONV_PICK_ISA(add_bias_rows_of)(c, ldc, rows, cols, bias, relu);
}

void add_residual(float* out, const float* residual, std::int64_t n) { FLEXCONV_PICK_ISA(add_rows)(out, residual, n); }

}  // namespace cpu
}  // namespace flexconv
