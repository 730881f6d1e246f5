// grid_sample bindings: input [N, C, H, W], grid [N, Hout, Wout, 2], output [N, C, Hout, Wout].
#include <string>

#include "binding/args.h"
#include "binding/cuda_memory.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "ops/grid_sample.h"

namespace flexconv {
namespace binding {

using math::GridMode;
using math::GridPadding;

namespace {

// Checks input and grid, and reads mode, paddingMode, alignCorners at args[first..first+2].
GridSampleShape grid_shape(const Args& args, const TensorView& input, const TensorView& grid, size_t first,
                           const char* fn) {
  expect_ndim(input, 4, fn, "input");
  expect_ndim(grid, 4, fn, "grid");
  expect_same_device(input, grid, fn, "input", "grid");
  if (grid.dim(0) != input.dim(0) || grid.dim(3) != 2) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": expected grid of shape [" +
                                              std::to_string(input.dim(0)) + ", Hout, Wout, 2] but received " +
                                              shape_to_string(grid.shape));
  }
  GridSampleShape s{input.dim(0), input.dim(1),       input.dim(2),       input.dim(3), grid.dim(1),
                    grid.dim(2),  GridMode::Bilinear, GridPadding::Zeros, false};
  const std::string mode = args.string(first, "mode");
  if (mode == "bilinear")
    s.mode = GridMode::Bilinear;
  else if (mode == "nearest")
    s.mode = GridMode::Nearest;
  else
    args.fail("expected mode to be 'bilinear' or 'nearest' but received \"" + mode + "\"");
  const std::string pad = args.string(first + 1, "paddingMode");
  if (pad == "zeros")
    s.padding = GridPadding::Zeros;
  else if (pad == "border")
    s.padding = GridPadding::Border;
  else if (pad == "reflection")
    s.padding = GridPadding::Reflection;
  else
    args.fail("expected paddingMode to be 'zeros', 'border' or 'reflection' but received \"" + pad + "\"");
  s.align_corners = args.boolean(first + 2, "alignCorners");
  if (s.in_h < 1 || s.in_w < 1) args.fail("input planes must not be empty");
  return s;
}

}  // namespace

// gridSample2dForward(input, grid, out, mode, paddingMode, alignCorners)
FLEXCONV_EXPORT(gridSample2dForward) {
  const char* fn = "gridSample2dForward";
  Args args(info, fn);
  TensorView input = args.tensor(0, "input");
  TensorView grid = args.tensor(1, "grid");
  TensorView out = args.tensor(2, "out");
  const GridSampleShape s = grid_shape(args, input, grid, 3, fn);
  expect_shape(out, {s.n, s.c, s.out_h, s.out_w}, fn, "out");
  expect_same_device(input, out, fn, "input", "out");
  if (input.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::grid_sample2d_forward(s, input.data, grid.data, out.data));
  } else {
    cpu::grid_sample2d_forward(s, input.data, grid.data, out.data);
  }
  return info.Env().Undefined();
}

// gridSample2dBackward(dy, input, grid, gradInput?, gradGrid?, mode, paddingMode, alignCorners)
FLEXCONV_EXPORT(gridSample2dBackward) {
  const char* fn = "gridSample2dBackward";
  Args args(info, fn);
  TensorView dy = args.tensor(0, "dy");
  TensorView input = args.tensor(1, "input");
  TensorView grid = args.tensor(2, "grid");
  const GridSampleShape s = grid_shape(args, input, grid, 5, fn);
  expect_shape(dy, {s.n, s.c, s.out_h, s.out_w}, fn, "dy");
  expect_same_device(input, dy, fn, "input", "dy");
  float* grad_input = nullptr;
  float* grad_grid = nullptr;
  if (!args.is_nullish(3)) {
    TensorView g = args.tensor(3, "gradInput");
    expect_shape(g, input.shape, fn, "gradInput");
    expect_same_device(input, g, fn, "input", "gradInput");
    grad_input = g.data;
  }
  if (!args.is_nullish(4)) {
    TensorView g = args.tensor(4, "gradGrid");
    expect_shape(g, grid.shape, fn, "gradGrid");
    expect_same_device(input, g, fn, "input", "gradGrid");
    grad_grid = g.data;
  }
  if (input.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::grid_sample2d_backward(s, dy.data, input.data, grid.data, grad_input, grad_grid));
  } else {
    cpu::grid_sample2d_backward(s, dy.data, input.data, grid.data, grad_input, grad_grid);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
