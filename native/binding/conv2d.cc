// conv2d bindings: forward, the two gradients and the per-channel sums (bias gradient).
// conv_transpose2d reuses them (lib/ops/conv.ts). Shapes are re-checked here for memory
// safety; lib/ops/conv.ts has already produced the friendly messages.
#include <string>

#include "binding/args.h"
#include "binding/cuda_memory.h"
#include "binding/conv_options.h"
#include "binding/packed_weights.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "cpu/conv2d.h"

namespace flexconv {
namespace binding {

using math::Conv2dGeometry;

namespace {

// Geometry from the (input-sized, weight, output-sized) tensors and the options (stride,
// padding, dilation, groups) at args[at .. at+3].
Conv2dGeometry geometry(const Args& args, size_t at, const char* fn, const TensorView& x, const TensorView& w,
                        const TensorView& y, const char* x_name, const char* y_name) {
  expect_ndim(x, 4, fn, x_name);
  expect_ndim(w, 4, fn, "weight");
  expect_ndim(y, 4, fn, y_name);
  expect_same_device(x, w, fn, x_name, "weight");
  expect_same_device(x, y, fn, x_name, y_name);
  Conv2dGeometry g{};
  g.batch = x.dim(0);
  g.in_channels = x.dim(1);
  g.in_h = x.dim(2);
  g.in_w = x.dim(3);
  g.out_channels = w.dim(0);
  g.kernel_h = w.dim(2);
  g.kernel_w = w.dim(3);
  read_conv_options(args, at, g);
  g.out_h = y.dim(2);
  g.out_w = y.dim(3);
  if (g.in_channels % g.groups != 0 || w.dim(1) * g.groups != g.in_channels) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": weight " + shape_to_string(w.shape) + " does not fit " +
                                              std::to_string(g.in_channels) + " input channels in " +
                                              std::to_string(g.groups) + " groups");
  }
  if (y.dim(0) != g.batch || y.dim(1) != g.out_channels) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": " + y_name + " has shape " + shape_to_string(y.shape) +
                                              ", which does not fit " + x_name + " " + shape_to_string(x.shape) +
                                              " and weight " + shape_to_string(w.shape));
  }
  conv2d_check_geometry(g);
  return g;
}

}  // namespace

// conv2dPackWeights(weight, groups) -> handle of the weight packed for repeated forwards
// (CPU). The handle owns a copy: later writes to `weight` do not reach it.
FLEXCONV_EXPORT(conv2dPackWeights) {
  Args args(info, "conv2dPackWeights");
  std::int64_t groups = 1;
  TensorView w = packable_weight(args, groups);
  return wrap_packed_weights(info.Env(),
                             cpu::conv2d_pack_weights(w.data, w.dim(0), w.dim(1), w.dim(2), w.dim(3), groups));
}

// conv2d(input, weight, bias | null, out, options { stride, padding, dilation, groups }[, residual | null, relu,
//        packed | null])
// The optional epilogue (inference: + residual, then ReLU) runs on the CPU only.
FLEXCONV_EXPORT(conv2d) {
  Args args(info, "conv2d");
  TensorView x = args.tensor(0, "input");
  TensorView w = args.tensor(1, "weight");
  TensorView bias = args.optional_tensor(2, "bias");
  TensorView y = args.tensor(3, "out");
  Conv2dGeometry g = geometry(args, 4, "conv2d", x, w, y, "input", "out");
  const float* b = nullptr;
  if (!args.is_nullish(2)) {
    expect_shape(bias, {g.out_channels}, "conv2d", "bias");
    expect_same_device(x, bias, "conv2d", "input", "bias");
    b = bias.data;
  }
  const ConvEpilogue epilogue = read_epilogue(args, 5, y, "conv2d");
  const PackedConvWeights* packed = optional_packed_weights(args, 7, "conv2dPackWeights");
  if (packed && !cpu::conv2d_packed_fits(g, *packed))
    args.fail("the packed weights were packed for another weight shape or groups (or by deformConv2dPackWeights)");
  if (x.device == Device::CUDA) {
    if (epilogue.residual || epilogue.relu || packed)
      args.fail("the fused epilogue (residual, relu) and packed weights run on the CPU only");
    FLEXCONV_CUDA_CALL("conv2d", cuda::conv2d_forward(g, x.data, w.data, b, y.data));
  } else {
    cpu::conv2d_forward(g, x.data, w.data, b, y.data, epilogue, packed);
  }
  return info.Env().Undefined();
}

// conv2dBackwardInput(gradOut, weight, gradInput, options { stride, padding, dilation, groups }):
// gradInput = the adjoint of conv2d applied to gradOut (overwritten).
FLEXCONV_EXPORT(conv2dBackwardInput) {
  Args args(info, "conv2dBackwardInput");
  TensorView go = args.tensor(0, "gradOut");
  TensorView w = args.tensor(1, "weight");
  TensorView gi = args.tensor(2, "gradInput");
  Conv2dGeometry g = geometry(args, 3, "conv2dBackwardInput", gi, w, go, "gradInput", "gradOut");
  if (go.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL("conv2dBackwardInput", cuda::conv2d_backward_input(g, go.data, w.data, gi.data));
  } else {
    cpu::conv2d_backward_input(g, go.data, w.data, gi.data);
  }
  return info.Env().Undefined();
}

// conv2dBackwardWeight(gradOut, input, gradWeight, options { stride, padding, dilation, groups }):
// gradWeight = sum over the batch of gradOut x col(input)^T (overwritten).
FLEXCONV_EXPORT(conv2dBackwardWeight) {
  Args args(info, "conv2dBackwardWeight");
  TensorView go = args.tensor(0, "gradOut");
  TensorView x = args.tensor(1, "input");
  TensorView gw = args.tensor(2, "gradWeight");
  Conv2dGeometry g = geometry(args, 3, "conv2dBackwardWeight", x, gw, go, "input", "gradOut");
  if (go.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL("conv2dBackwardWeight", cuda::conv2d_backward_weight(g, go.data, x.data, gw.data));
  } else {
    cpu::conv2d_backward_weight(g, go.data, x.data, gw.data);
  }
  return info.Env().Undefined();
}

// channelSums(x [N, C, ...], sums [C]): sums[c] = sum of x[:, c, ...] (bias gradients).
FLEXCONV_EXPORT(channelSums) {
  Args args(info, "channelSums");
  TensorView x = args.tensor(0, "x");
  TensorView s = args.tensor(1, "sums");
  if (x.ndim() < 2) {
    throw Error(ErrorCode::ShapeMismatch,
                "channelSums: expected x to have at least 2 dimensions but received shape " + shape_to_string(x.shape));
  }
  expect_shape(s, {x.dim(1)}, "channelSums", "sums");
  expect_same_device(x, s, "channelSums", "x", "sums");
  std::int64_t plane = 1;
  for (int d = 2; d < x.ndim(); ++d) plane *= x.dim(d);
  if (x.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL("channelSums", cuda::channel_sums(x.dim(0), x.dim(1), plane, x.data, s.data));
  } else {
    cpu::channel_sums(x.dim(0), x.dim(1), plane, x.data, s.data);
  }
  return info.Env().Undefined();
}

// addChannelBias(x [N, C, ...], bias [C]): x[:, c, ...] += bias[c] in place.
FLEXCONV_EXPORT(addChannelBias) {
  Args args(info, "addChannelBias");
  TensorView x = args.tensor(0, "x");
  TensorView b = args.tensor(1, "bias");
  if (x.ndim() < 2) {
    throw Error(
        ErrorCode::ShapeMismatch,
        "addChannelBias: expected x to have at least 2 dimensions but received shape " + shape_to_string(x.shape));
  }
  expect_shape(b, {x.dim(1)}, "addChannelBias", "bias");
  expect_same_device(x, b, "addChannelBias", "x", "bias");
  std::int64_t plane = 1;
  for (int d = 2; d < x.ndim(); ++d) plane *= x.dim(d);
  if (x.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL("addChannelBias", cuda::add_channel_bias(x.dim(0), x.dim(1), plane, b.data, x.data));
  } else {
    cpu::add_channel_bias(x.dim(0), x.dim(1), plane, b.data, x.data);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
