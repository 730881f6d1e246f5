// grid_sample for 4-D input [N, C, H, W] and grid [N, Hout, Wout, 2] (x then y, in [-1, 1]),
// PyTorch semantics. The CPU (cpu/grid_sample.cc) and CUDA (cuda/grid_sample.cu) kernels
// share these signatures and the coordinate math of math/grid_sample.h.
#pragma once
#include <cstdint>

#include "math/grid_sample.h"

namespace flexconv {
namespace cpu {

struct GridSampleShape {
  std::int64_t n, c, in_h, in_w, out_h, out_w;
  math::GridMode mode;
  math::GridPadding padding;
  bool align_corners;
};

void grid_sample2d_forward(const GridSampleShape& s, const float* input, const float* grid, float* out);
// grad_input and/or grad_grid (either may be null) from the output gradient.
void grid_sample2d_backward(const GridSampleShape& s, const float* dy, const float* input, const float* grid,
                            float* grad_input, float* grad_grid);

}  // namespace cpu
}  // namespace flexconv
