// The inference epilogue (ops/conv2d.h ConvEpilogue: + residual, then ReLU) as the GEMM-based
// convolutions run it: the output block is pre-filled with bias + residual before the GEMM
// accumulates into it (beta = 1), so the residual costs no pass of its own, and ReLU runs over
// the block right after, while it is in cache. Shared by conv2d and deform_conv2d.
#pragma once
#include <cstdint>

namespace flexconv {
namespace cpu {

// c[r * ldc + j] = bias[r] (0 without bias) + residual[r * ldr + j] (nothing without residual)
// for rows r < rows, columns j < cols. Returns the GEMM's beta: 1 when anything was written,
// 0 when neither bias nor residual is given (c is then left alone).
float prefill_output(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias,
                     const float* residual, std::int64_t ldr);

// c = max(0, c) over rows x cols (row stride ldc). NaN stays NaN, as torch.relu.
void relu_rows(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols);

// c += bias[r] on row r, then max(0, .) if relu: the bias after a GEMM that wrote c (beta 0)
// instead of a pre-fill it would read back, for shallow GEMMs (conv2d_forward_packed).
void add_bias_rows(float* c, std::int64_t ldc, std::int64_t rows, std::int64_t cols, const float* bias, bool relu);

// out[i] += residual[i] for i < n.
void add_residual(float* out, const float* residual, std::int64_t n);

}  // namespace cpu
}  // namespace flexconv
