// grid_sample for 4-D input [N, C, H, W] and grid [N, Hout, Wout, 2] (x then y, in [-1, 1]),
// PyTorch semantics: the contract both backends implement (cpu/grid_sample.cc,
// cuda/grid_sample.cu) with the coordinate math of math/grid_sample.h.
#pragma once
#include <cstdint>

#include "math/grid_sample.h"

namespace flexconv {

struct GridSampleShape {
  std::int64_t n, c, in_h, in_w, out_h, out_w;
  math::GridMode mode;
  math::GridPadding padding;
  bool align_corners;
};

// grid_sample2d_backward: grad_input and/or grad_grid (either may be null) from the output
// gradient.
#define FLEXCONV_GRID_SAMPLE_ENTRY_POINTS                                                                       \
  void grid_sample2d_forward(const GridSampleShape& s, const float* input, const float* grid, float* out);      \
  void grid_sample2d_backward(const GridSampleShape& s, const float* dy, const float* input, const float* grid, \
                              float* grad_input, float* grad_grid);

namespace cpu {
FLEXCONV_GRID_SAMPLE_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_GRID_SAMPLE_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_GRID_SAMPLE_ENTRY_POINTS

}  // namespace flexconv
