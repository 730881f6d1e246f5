// CUDA interpolate: the same contract as cpu/interpolate.h, on device pointers.
#pragma once
#include "cpu/interpolate.h"

namespace flexconv {
namespace cuda {

void interpolate2d_forward(const cpu::InterpShape& s, cpu::InterpMode mode, const float* x, float* y,
                           const float* base = nullptr);
void interpolate2d_backward(const cpu::InterpShape& s, cpu::InterpMode mode, const float* dy, float* grad_x);

}  // namespace cuda
}  // namespace flexconv
