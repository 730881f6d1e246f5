// deformConv2d bindings: validate every tensor against the geometry the shapes imply (memory
// safety: lib/ops/deform_conv.ts gives the friendlier messages first), then dispatch on device.
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/cuda_memory.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "ops/deform_conv2d.h"

namespace flexconv {
namespace binding {

using math::DeformConv2dGeometry;

namespace {

constexpr const char* kFn = "deformConv2d";

// params = [strideH, strideW, padH, padW, dilH, dilW]
DeformConv2dGeometry geometry(const Args& args, const TensorView& input, const TensorView& offset,
                              const TensorView& weight, const std::vector<std::int64_t>& params) {
  expect_ndim(input, 4, kFn, "input");
  expect_ndim(offset, 4, kFn, "offset");
  expect_ndim(weight, 4, kFn, "weight");
  if (params.size() != 6) args.fail("expected params to hold 6 integers");
  DeformConv2dGeometry g{};
  g.batch = input.dim(0);
  g.in_channels = input.dim(1);
  g.in_h = input.dim(2);
  g.in_w = input.dim(3);
  g.out_channels = weight.dim(0);
  g.kernel_h = weight.dim(2);
  g.kernel_w = weight.dim(3);
  g.stride_h = params[0];
  g.stride_w = params[1];
  g.pad_h = params[2];
  g.pad_w = params[3];
  g.dil_h = params[4];
  g.dil_w = params[5];
  if (g.stride_h < 1 || g.stride_w < 1 || g.dil_h < 1 || g.dil_w < 1 || g.pad_h < 0 || g.pad_w < 0) {
    args.fail("expected positive stride and dilation and non-negative padding");
  }
  if (g.kernel_h < 1 || g.kernel_w < 1 || weight.dim(1) < 1) {
    throw Error(ErrorCode::ShapeMismatch,
                std::string(kFn) + ": weight has an empty dimension: " + shape_to_string(weight.shape));
  }
  if (g.in_channels % weight.dim(1) != 0) {
    throw Error(ErrorCode::ShapeMismatch,
                std::string(kFn) + ": input channels " + std::to_string(g.in_channels) +
                    " are not a multiple of weight.shape[1] = " + std::to_string(weight.dim(1)));
  }
  g.groups = g.in_channels / weight.dim(1);
  if (g.groups < 1 || g.out_channels % g.groups != 0) {
    throw Error(ErrorCode::ShapeMismatch, std::string(kFn) + ": weight.shape[0] = " + std::to_string(g.out_channels) +
                                              " is not a multiple of groups = " + std::to_string(g.groups));
  }
  const std::int64_t taps2 = 2 * g.kernel_h * g.kernel_w;
  if (offset.dim(1) == 0 || offset.dim(1) % taps2 != 0) {
    throw Error(ErrorCode::ShapeMismatch, std::string(kFn) + ": offset channels " + std::to_string(offset.dim(1)) +
                                              " are not a positive multiple of 2*kh*kw = " + std::to_string(taps2));
  }
  g.offset_groups = offset.dim(1) / taps2;
  if (g.in_channels % g.offset_groups != 0) {
    throw Error(ErrorCode::ShapeMismatch,
                std::string(kFn) + ": input channels " + std::to_string(g.in_channels) +
                    " are not a multiple of offset groups = " + std::to_string(g.offset_groups));
  }
  const std::int64_t eff_h = g.dil_h * (g.kernel_h - 1) + 1, eff_w = g.dil_w * (g.kernel_w - 1) + 1;
  if (g.in_h + 2 * g.pad_h < eff_h || g.in_w + 2 * g.pad_w < eff_w) {
    throw Error(ErrorCode::ShapeMismatch, std::string(kFn) + ": the padded input is smaller than the dilated kernel");
  }
  g.out_h = (g.in_h + 2 * g.pad_h - eff_h) / g.stride_h + 1;
  g.out_w = (g.in_w + 2 * g.pad_w - eff_w) / g.stride_w + 1;
  // Plans index one zero-bordered (H+2) x (W+2) plane with int32.
  if (g.in_h > (1 << 24) || g.in_w > (1 << 24) || (g.in_h + 2) * (g.in_w + 2) >= (std::int64_t(1) << 31)) {
    args.fail("input planes larger than 2^31 pixels are not supported");
  }
  expect_shape(offset, {g.batch, g.offset_groups * taps2, g.out_h, g.out_w}, kFn, "offset");
  expect_same_device(input, offset, kFn, "input", "offset");
  expect_same_device(input, weight, kFn, "input", "weight");
  return g;
}

void check_optional(const TensorView& t, const TensorView& input, const std::vector<std::int64_t>& shape,
                    const char* name) {
  if (!t.data && t.shape.empty()) return;
  expect_shape(t, shape, kFn, name);
  expect_same_device(input, t, kFn, "input", name);
}

bool present(const TensorView& t) { return t.data != nullptr || !t.shape.empty(); }

}  // namespace

// deformConv2d(input, offset, mask | null, weight, bias | null, output, params)
FLEXCONV_EXPORT(deformConv2d) {
  Args args(info, kFn);
  TensorView input = args.tensor(0, "input");
  TensorView offset = args.tensor(1, "offset");
  TensorView mask = args.optional_tensor(2, "mask");
  TensorView weight = args.tensor(3, "weight");
  TensorView bias = args.optional_tensor(4, "bias");
  TensorView output = args.tensor(5, "output");
  DeformConv2dGeometry g = geometry(args, input, offset, weight, args.int_list(6, "params"));
  const std::int64_t taps = g.kernel_h * g.kernel_w;
  check_optional(mask, input, {g.batch, g.offset_groups * taps, g.out_h, g.out_w}, "mask");
  check_optional(bias, input, {g.out_channels}, "bias");
  expect_shape(output, {g.batch, g.out_channels, g.out_h, g.out_w}, kFn, "output");
  expect_same_device(input, output, kFn, "input", "output");
  const float* m = present(mask) ? mask.data : nullptr;
  const float* b = present(bias) ? bias.data : nullptr;
  if (input.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(kFn, cuda::deform_conv2d_forward(g, input.data, offset.data, m, weight.data, b, output.data));
  } else {
    cpu::deform_conv2d_forward(g, input.data, offset.data, m, weight.data, b, output.data);
  }
  return info.Env().Undefined();
}

// deformConv2dBackward(input, offset, mask | null, weight, gradOutput, gradInput | null,
//   gradOffset | null, gradMask | null, gradWeight | null, gradBias | null, params, deterministic)
FLEXCONV_EXPORT(deformConv2dBackward) {
  Args args(info, "deformConv2dBackward");
  TensorView input = args.tensor(0, "input");
  TensorView offset = args.tensor(1, "offset");
  TensorView mask = args.optional_tensor(2, "mask");
  TensorView weight = args.tensor(3, "weight");
  TensorView grad_output = args.tensor(4, "gradOutput");
  TensorView grad_input = args.optional_tensor(5, "gradInput");
  TensorView grad_offset = args.optional_tensor(6, "gradOffset");
  TensorView grad_mask = args.optional_tensor(7, "gradMask");
  TensorView grad_weight = args.optional_tensor(8, "gradWeight");
  TensorView grad_bias = args.optional_tensor(9, "gradBias");
  DeformConv2dGeometry g = geometry(args, input, offset, weight, args.int_list(10, "params"));
  const bool deterministic = args.is_nullish(11) ? true : args.boolean(11, "deterministic");
  const std::int64_t taps = g.kernel_h * g.kernel_w;
  check_optional(mask, input, {g.batch, g.offset_groups * taps, g.out_h, g.out_w}, "mask");
  expect_shape(grad_output, {g.batch, g.out_channels, g.out_h, g.out_w}, "deformConv2dBackward", "gradOutput");
  expect_same_device(input, grad_output, "deformConv2dBackward", "input", "gradOutput");
  check_optional(grad_input, input, input.shape, "gradInput");
  check_optional(grad_offset, input, offset.shape, "gradOffset");
  if (present(grad_mask)) {
    if (!present(mask)) args.fail("gradMask requested but no mask given");
    check_optional(grad_mask, input, mask.shape, "gradMask");
  }
  check_optional(grad_weight, input, weight.shape, "gradWeight");
  check_optional(grad_bias, input, {g.out_channels}, "gradBias");
  auto ptr = [](const TensorView& t) { return present(t) ? t.data : nullptr; };
  if (input.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL("deformConv2dBackward",
                       cuda::deform_conv2d_backward(g, input.data, offset.data, ptr(mask), weight.data,
                                                    grad_output.data, ptr(grad_input), ptr(grad_offset), ptr(grad_mask),
                                                    ptr(grad_weight), ptr(grad_bias), deterministic));
  } else {
    cpu::deform_conv2d_backward(g, input.data, offset.data, ptr(mask), weight.data, grad_output.data, ptr(grad_input),
                                ptr(grad_offset), ptr(grad_mask), ptr(grad_weight), ptr(grad_bias), deterministic);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
