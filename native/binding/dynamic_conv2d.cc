// dynamic_conv2d bindings: forward and one backward entry that fills whichever gradients the
// caller passes. lib/ops/dynamic_conv.ts has already produced the friendly messages; the
// shapes are re-checked here so no kernel can read or write out of bounds.
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/cuda_memory.h"
#include "binding/conv_options.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "cpu/conv2d.h"
#include "cpu/dynamic_conv2d.h"

namespace flexconv {
namespace binding {

using math::Conv2dGeometry;

namespace {

struct DynamicArgs {
  Conv2dGeometry g{};
  std::int64_t experts = 0;
  const float* expert_bias = nullptr;
};

// Validates input [B, C, H, W], experts [K, O, C/groups, kh, kw], attention [B, K], expert
// bias [K, O] (optional, at args[bias_at]) and the output-sized tensor y [B, O, OH, OW];
// options (stride, padding, dilation, groups) at args[at .. at+3].
DynamicArgs parse(const Args& args, const char* fn, const TensorView& x, const TensorView& w, const TensorView& a,
                  size_t bias_at, const TensorView& y, const char* y_name, size_t at) {
  expect_ndim(x, 4, fn, "input");
  expect_ndim(w, 5, fn, "experts");
  expect_ndim(a, 2, fn, "attention");
  expect_ndim(y, 4, fn, y_name);
  expect_same_device(x, w, fn, "input", "experts");
  expect_same_device(x, a, fn, "input", "attention");
  expect_same_device(x, y, fn, "input", y_name);
  DynamicArgs d;
  Conv2dGeometry& g = d.g;
  d.experts = w.dim(0);
  g.batch = x.dim(0);
  g.in_channels = x.dim(1);
  g.in_h = x.dim(2);
  g.in_w = x.dim(3);
  g.out_channels = w.dim(1);
  g.kernel_h = w.dim(3);
  g.kernel_w = w.dim(4);
  read_conv_options(args, at, g);
  g.out_h = y.dim(2);
  g.out_w = y.dim(3);
  if (d.experts < 1) args.fail("expected at least one expert");
  if (g.in_channels % g.groups != 0 || w.dim(2) * g.groups != g.in_channels) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": experts " + shape_to_string(w.shape) + " do not fit " +
                                              std::to_string(g.in_channels) + " input channels in " +
                                              std::to_string(g.groups) + " groups");
  }
  expect_shape(a, {g.batch, d.experts}, fn, "attention");
  if (y.dim(0) != g.batch || y.dim(1) != g.out_channels) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": " + y_name + " has shape " + shape_to_string(y.shape) +
                                              ", which does not fit input " + shape_to_string(x.shape) +
                                              " and experts " + shape_to_string(w.shape));
  }
  // Positive stride, dilation and kernel, non-negative padding (before any division by them).
  conv2d_check_geometry(g);
  const std::int64_t oh = math::conv_out_size(g.in_h, g.kernel_h, g.stride_h, g.pad_h, g.dil_h);
  const std::int64_t ow = math::conv_out_size(g.in_w, g.kernel_w, g.stride_w, g.pad_w, g.dil_w);
  if (g.out_h != oh || g.out_w != ow) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": expected " + y_name + " to be " + std::to_string(oh) +
                                              "x" + std::to_string(ow) + " pixels but received " +
                                              shape_to_string(y.shape));
  }
  if (!args.is_nullish(bias_at)) {
    TensorView bias = args.tensor(bias_at, "expertBias");
    expect_shape(bias, {d.experts, g.out_channels}, fn, "expertBias");
    expect_same_device(x, bias, fn, "input", "expertBias");
    d.expert_bias = bias.data;
  }
  return d;
}

// An optional output tensor of exactly `shape` on x's device, or null.
float* optional_out(const Args& args, size_t i, const char* fn, const char* name, const TensorView& x,
                    const std::vector<std::int64_t>& shape) {
  if (args.is_nullish(i)) return nullptr;
  TensorView t = args.tensor(i, name);
  expect_shape(t, shape, fn, name);
  expect_same_device(x, t, fn, "input", name);
  return t.data;
}

}  // namespace

// dynamicConv2d(input, experts, attention, expertBias | null, out, options { stride, padding, dilation, groups })
FLEXCONV_EXPORT(dynamicConv2d) {
  const char* fn = "dynamicConv2d";
  Args args(info, fn);
  TensorView x = args.tensor(0, "input");
  TensorView w = args.tensor(1, "experts");
  TensorView a = args.tensor(2, "attention");
  TensorView y = args.tensor(4, "out");
  DynamicArgs d = parse(args, fn, x, w, a, 3, y, "out", 5);
  if (x.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::dynamic_conv2d_forward(d.g, d.experts, x.data, w.data, a.data, d.expert_bias, y.data));
  } else {
    cpu::dynamic_conv2d_forward(d.g, d.experts, x.data, w.data, a.data, d.expert_bias, y.data);
  }
  return info.Env().Undefined();
}

// dynamicConv2dBackward(gradOut, input, experts, attention, expertBias | null, gradInput | null,
//   gradExperts | null, gradAttention | null, gradExpertBias | null, options { stride, padding, dilation, groups })
FLEXCONV_EXPORT(dynamicConv2dBackward) {
  const char* fn = "dynamicConv2dBackward";
  Args args(info, fn);
  TensorView go = args.tensor(0, "gradOut");
  TensorView x = args.tensor(1, "input");
  TensorView w = args.tensor(2, "experts");
  TensorView a = args.tensor(3, "attention");
  DynamicArgs d = parse(args, fn, x, w, a, 4, go, "gradOut", 9);
  float* gi = optional_out(args, 5, fn, "gradInput", x, x.shape);
  float* gw = optional_out(args, 6, fn, "gradExperts", x, w.shape);
  float* ga = optional_out(args, 7, fn, "gradAttention", x, a.shape);
  float* gb = d.expert_bias ? optional_out(args, 8, fn, "gradExpertBias", x, {d.experts, d.g.out_channels}) : nullptr;
  if (x.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::dynamic_conv2d_backward(d.g, d.experts, go.data, x.data, w.data, a.data, d.expert_bias,
                                                         gi, gw, ga, gb));
  } else {
    cpu::dynamic_conv2d_backward(d.g, d.experts, go.data, x.data, w.data, a.data, d.expert_bias, gi, gw, ga, gb);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
