#include "cpu/conv_epilogue.h"

#include <algorithm>

namespace flexconv {
namespace cpu {

float prefill_output(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias,
                     const float* residual, std::int64_t ldr) {
  if (!bias && !residual) return 0.0f;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    const float b = bias ? bias[r] : 0.0f;
    if (residual) {
      const float* res = residual + r * ldr;
      for (std::int64_t j = 0; j < cols; ++j) row[j] = res[j] + b;
    } else {
      std::fill(row, row + cols, b);
    }
  }
  return 1.0f;
}

void relu_rows(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    // `< 0` is false for NaN, which therefore stays.
    for (std::int64_t j = 0; j < cols; ++j) row[j] = row[j] < 0.0f ? 0.0f : row[j];
  }
}

void add_bias_rows(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias, bool relu) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    const float b = bias[r];
    if (relu) {
      for (std::int64_t j = 0; j < cols; ++j) {
        const float v = row[j] + b;
        row[j] = v < 0.0f ? 0.0f : v;
      }
    } else {
      for (std::int64_t j = 0; j < cols; ++j) row[j] += b;
    }
  }
}

}  // namespace cpu
}  // namespace flexconv
