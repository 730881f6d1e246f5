// Fused batch normalisation over NCHW (statistics per channel C, reduced over N, H, W): the
// contract both backends implement (cpu/batch_norm.cc, cuda/batch_norm.cu; host or device
// pointers).
#pragma once
#include <cstdint>

namespace flexconv {

struct BatchNormShape {
  std::int64_t n, c, hw;  // x is [n, c, hw]
};

// batch_norm_forward. Training: normalises with the batch mean and biased variance, writes
// them as save_mean and save_invstd (1/sqrt(var + eps)), and, when running_mean/var are given,
// updates them in place with momentum (unbiased variance). Eval: normalises with the running
// statistics and writes them (as mean and invstd) to the save buffers. weight/bias may be null.
//
// batch_norm_backward: gradients from the saved mean/invstd. training: the full formula through
// the batch statistics; eval: statistics are constants. Any of grad_x/grad_weight/grad_bias
// may be null.
#define FLEXCONV_BATCH_NORM_ENTRY_POINTS                                                                               \
  void batch_norm_forward(const BatchNormShape& s, const float* x, float* y, float* running_mean, float* running_var,  \
                          const float* weight, const float* bias, float* save_mean, float* save_invstd, bool training, \
                          float momentum, float eps);                                                                  \
  void batch_norm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* save_mean,           \
                           const float* save_invstd, const float* weight, float* grad_x, float* grad_weight,           \
                           float* grad_bias, bool training);

namespace cpu {
FLEXCONV_BATCH_NORM_ENTRY_POINTS

// The CPU also runs the epilogue of a residual block in the same passes (training included):
//   batch_norm_forward_fused: y = relu?(bn(x) + residual?), residual may be null.
//   batch_norm_backward_fused: the gradients of that y, dy its gradient; `out` is y when relu (its
//     mask out > 0 is ReLU's gradient, as torch's threshold_backward), else null; grad_residual,
//     when not null, receives the gradient of the sum (dy masked).
void batch_norm_forward_fused(const BatchNormShape& s, const float* x, float* y, float* running_mean,
                              float* running_var, const float* weight, const float* bias, float* save_mean,
                              float* save_invstd, bool training, float momentum, float eps, const float* residual,
                              bool relu);
void batch_norm_backward_fused(const BatchNormShape& s, const float* x, const float* dy, const float* out,
                               const float* save_mean, const float* save_invstd, const float* weight, float* grad_x,
                               float* grad_weight, float* grad_bias, float* grad_residual, bool training);
}  // namespace cpu
namespace cuda {
FLEXCONV_BATCH_NORM_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_BATCH_NORM_ENTRY_POINTS

}  // namespace flexconv
