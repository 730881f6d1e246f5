// CUDA pooling: the same contract as cpu/pooling.h, on device pointers.
#pragma once
#include <cstdint>

#include "cpu/pooling.h"

namespace flexconv {
namespace cuda {

void max_pool2d_forward(const cpu::PoolShape& s, const float* x, float* y, std::int32_t* indices);
void max_pool2d_backward(const cpu::PoolShape& s, const float* dy, const std::int32_t* indices, float* grad_x);
void avg_pool2d_forward(const cpu::PoolShape& s, const float* x, float* y, bool count_include_pad);
void avg_pool2d_backward(const cpu::PoolShape& s, const float* dy, float* grad_x, bool count_include_pad);
void adaptive_avg_pool2d_forward(const cpu::PoolShape& s, const float* x, float* y);
void adaptive_avg_pool2d_backward(const cpu::PoolShape& s, const float* dy, float* grad_x);

}  // namespace cuda
}  // namespace flexconv
