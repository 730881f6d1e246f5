// The epilogue's row loops (cpu/conv_epilogue_rows.h), plain loops the compiler vectorises at
// this copy's width; the ReLU's `< 0` select needs no-trapping-math to if-convert.

#include "core/no_trapping_math.h"  // first: it changes how the loops below compile
#include <cstdint>

#include "cpu/conv_epilogue_rows.h"

FLEXCONV_ISA_BEGIN
namespace {

// `< 0` is false for NaN, which therefore stays (as torch.relu).
inline float relu(float v) { return v < 0.0f ? 0.0f : v; }

}  // namespace

void prefill_rows(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias,
                  const float* residual, std::int64_t ldr) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* __restrict row = c + r * ldc;
    const float b = bias ? bias[r] : 0.0f;
    if (residual) {
      const float* __restrict res = residual + r * ldr;
      for (std::int64_t j = 0; j < cols; ++j) row[j] = res[j] + b;
    } else {
      for (std::int64_t j = 0; j < cols; ++j) row[j] = b;
    }
  }
}

void relu_rows_of(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* __restrict row = c + r * ldc;
    for (std::int64_t j = 0; j < cols; ++j) row[j] = relu(row[j]);
  }
}

void add_bias_rows_of(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias,
                      bool relu_after) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float* __restrict row = c + r * ldc;
    const float b = bias[r];
    if (relu_after) {
      for (std::int64_t j = 0; j < cols; ++j) row[j] = relu(row[j] + b);
    } else {
      for (std::int64_t j = 0; j < cols; ++j) row[j] += b;
    }
  }
}

void add_rows(float* out, const float* residual, std::int64_t n) {
  float* __restrict o = out;
  const float* __restrict res = residual;
  for (std::int64_t i = 0; i < n; ++i) o[i] += res[i];
}

FLEXCONV_ISA_END
