// The window options every conv-like binding receives as one object, read into the op's
// geometry in one place: { stride: [h, w], padding: [h, w], dilation: [h, w], groups } (groups
// only where the op takes it; deformable convolution infers it from the shapes). Range checks
// stay with the ops' contracts (conv2d_check_geometry, deform_conv2d_geometry), which run
// before any division by these values.
#pragma once
#include <cstddef>
#include <cstdint>

#include "binding/args.h"
#include "math/conv_geometry.h"
#include "ops/conv2d.h"

namespace flexconv {
namespace binding {

// stride, padding, dilation and groups of the options object at args[i].
void read_conv_options(const Args& args, std::size_t i, math::Conv2dGeometry& g);

// stride, padding and dilation of the options object at args[i] as [strideH, strideW, padH,
// padW, dilH, dilW].
void read_window_options(const Args& args, std::size_t i, std::int64_t (&params)[6]);

// The optional inference epilogue of conv2d and deformConv2d: args[i] a residual tensor of
// out's shape and device (or null / absent), args[i + 1] relu (a boolean, or absent).
ConvEpilogue read_epilogue(const Args& args, std::size_t i, const TensorView& out, const char* fn);

}  // namespace binding
}  // namespace flexconv
