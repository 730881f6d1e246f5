// CUDA grid_sample: the same contract as cpu/grid_sample.h, on device pointers.
#pragma once
#include "cpu/grid_sample.h"

namespace flexconv {
namespace cuda {

void grid_sample2d_forward(const cpu::GridSampleShape& s, const float* input, const float* grid, float* out);
void grid_sample2d_backward(const cpu::GridSampleShape& s, const float* dy, const float* input, const float* grid,
                            float* grad_input, float* grad_grid);

}  // namespace cuda
}  // namespace flexconv
