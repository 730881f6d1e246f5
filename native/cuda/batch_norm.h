// CUDA batch norm: the same contract as cpu/batch_norm.h, on device pointers.
#pragma once
#include "cpu/batch_norm.h"

namespace flexconv {
namespace cuda {

void batch_norm_forward(const cpu::BatchNormShape& s, const float* x, float* y, float* running_mean,
                        float* running_var, const float* weight, const float* bias, float* save_mean,
                        float* save_invstd, bool training, float momentum, float eps);
void batch_norm_backward(const cpu::BatchNormShape& s, const float* x, const float* dy, const float* save_mean,
                         const float* save_invstd, const float* weight, float* grad_x, float* grad_weight,
                         float* grad_bias, bool training);

}  // namespace cuda
}  // namespace flexconv
