// deformConv2d bindings: validate every tensor against the geometry the shapes imply (memory
// safety: lib/ops/deform_conv.ts gives the friendlier messages first), then dispatch on device.
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/conv_options.h"
#include "binding/packed_weights.h"
#include "binding/cuda_memory.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "cpu/deform_conv2d.h"
#include "ops/deform_conv2d.h"

namespace flexconv {
namespace binding {

using math::DeformConv2dGeometry;

namespace {

constexpr const char* kFn = "deformConv2d";

bool present(const TensorView& t) { return t.data != nullptr || !t.shape.empty(); }

// The op's contract (ops/deform_conv2d.h) on the tensors' shapes, then what only tensors have:
// devices. mask and bias may be absent (no data, no shape).
DeformConv2dGeometry geometry(const Args& args, const TensorView& input, const TensorView& offset,
                              const TensorView& weight, const TensorView& mask, const TensorView& bias,
                              std::size_t options_at) {
  std::int64_t params[6];
  read_window_options(args, options_at, params);
  const DeformConv2dGeometry g =
      deform_conv2d_geometry({input.shape, offset.shape, weight.shape, present(mask) ? &mask.shape : nullptr,
                              present(bias) ? &bias.shape : nullptr},
                             params);
  expect_same_device(input, offset, kFn, "input", "offset");
  expect_same_device(input, weight, kFn, "input", "weight");
  if (present(mask)) expect_same_device(input, mask, kFn, "input", "mask");
  if (present(bias)) expect_same_device(input, bias, kFn, "input", "bias");
  return g;
}

void check_optional(const TensorView& t, const TensorView& input, const std::vector<std::int64_t>& shape,
                    const char* name) {
  if (!t.data && t.shape.empty()) return;
  expect_shape(t, shape, kFn, name);
  expect_same_device(input, t, kFn, "input", name);
}

}  // namespace

// deformConv2dGeometry(inputShape, offsetShape, weightShape, maskShape | null, biasShape | null,
//   options { stride, padding, dilation })
//   -> { outH, outW, groups, offsetGroups }: the op's contract on shapes alone, for
// lib/ops/deform_conv.ts to size the output (the same checks and messages as the op itself).
FLEXCONV_EXPORT(deformConv2dGeometry) {
  Args args(info, "deformConv2dGeometry");
  const std::vector<std::int64_t> input = args.int_list(0, "inputShape");
  const std::vector<std::int64_t> offset = args.int_list(1, "offsetShape");
  const std::vector<std::int64_t> weight = args.int_list(2, "weightShape");
  std::vector<std::int64_t> mask, bias;
  const bool has_mask = !args.is_nullish(3), has_bias = !args.is_nullish(4);
  if (has_mask) mask = args.int_list(3, "maskShape");
  if (has_bias) bias = args.int_list(4, "biasShape");
  const std::vector<std::int64_t>* shapes[] = {&input, &offset, &weight, &mask, &bias};
  for (const std::vector<std::int64_t>* shape : shapes) {
    for (std::int64_t d : *shape) {
      if (d < 0) args.fail("expected shapes of non-negative sizes but received " + shape_to_string(*shape));
    }
  }
  std::int64_t params[6];
  read_window_options(args, 5, params);
  const DeformConv2dGeometry g =
      deform_conv2d_geometry({input, offset, weight, has_mask ? &mask : nullptr, has_bias ? &bias : nullptr}, params);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("outH", static_cast<double>(g.out_h));
  out.Set("outW", static_cast<double>(g.out_w));
  out.Set("groups", static_cast<double>(g.groups));
  out.Set("offsetGroups", static_cast<double>(g.offset_groups));
  return out;
}

// deformConv2dPackWeights(weight, groups) -> handle of the weight packed for repeated forwards
// (CPU; tap-major, so it fits deformConv2d only). The handle owns a copy.
FLEXCONV_EXPORT(deformConv2dPackWeights) {
  Args args(info, "deformConv2dPackWeights");
  std::int64_t groups = 1;
  TensorView w = packable_weight(args, groups);
  return wrap_packed_weights(info.Env(),
                             cpu::deform_conv2d_pack_weights(w.data, w.dim(0), w.dim(1), w.dim(2), w.dim(3), groups));
}

// deformConv2d(input, offset, mask | null, weight, bias | null, output, options { stride, padding, dilation }
//   [, packed | null, residual | null, relu]): packed (CPU) is `weight` from deformConv2dPackWeights, used
//   instead of packing it; the optional epilogue (inference: + residual, then ReLU) runs on the CPU only.
FLEXCONV_EXPORT(deformConv2d) {
  Args args(info, kFn);
  TensorView input = args.tensor(0, "input");
  TensorView offset = args.tensor(1, "offset");
  TensorView mask = args.optional_tensor(2, "mask");
  TensorView weight = args.tensor(3, "weight");
  TensorView bias = args.optional_tensor(4, "bias");
  TensorView output = args.tensor(5, "output");
  const DeformConv2dGeometry g = geometry(args, input, offset, weight, mask, bias, 6);
  expect_shape(output, {g.batch, g.out_channels, g.out_h, g.out_w}, kFn, "output");
  expect_same_device(input, output, kFn, "input", "output");
  const float* m = present(mask) ? mask.data : nullptr;
  const float* b = present(bias) ? bias.data : nullptr;
  const PackedConvWeights* packed = optional_packed_weights(args, 7, "deformConv2dPackWeights");
  if (packed && !cpu::deform_conv2d_packed_fits(g, *packed))
    args.fail("the packed weights were packed for another weight shape or groups (or by conv2dPackWeights)");
  const ConvEpilogue epilogue = read_epilogue(args, 8, output, kFn);
  const bool fused = epilogue.residual || epilogue.relu;
  if (input.device == Device::CUDA) {
    if (packed || fused) args.fail("the fused epilogue (residual, relu) and packed weights run on the CPU only");
    FLEXCONV_CUDA_CALL(kFn, cuda::deform_conv2d_forward(g, input.data, offset.data, m, weight.data, b, output.data));
  } else if (packed) {
    cpu::deform_conv2d_forward_prepacked(g, input.data, offset.data, m, *packed, b, output.data, epilogue);
  } else if (fused) {
    // Packing is what the plain forward does first anyway; the epilogue lives on the packed path.
    const auto own = cpu::deform_conv2d_pack_weights(weight.data, weight.dim(0), weight.dim(1), weight.dim(2),
                                                     weight.dim(3), g.groups);
    cpu::deform_conv2d_forward_prepacked(g, input.data, offset.data, m, *own, b, output.data, epilogue);
  } else {
    cpu::deform_conv2d_forward(g, input.data, offset.data, m, weight.data, b, output.data);
  }
  return info.Env().Undefined();
}

// deformConv2dBackward(input, offset, mask | null, weight, gradOutput, gradInput | null,
//   gradOffset | null, gradMask | null, gradWeight | null, gradBias | null,
//   options { stride, padding, dilation, deterministic (default true) })
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
  const DeformConv2dGeometry g = geometry(args, input, offset, weight, mask, TensorView{}, 10);
  const Napi::Value det = args.option(10, "options", "deterministic");
  const bool deterministic = det.IsUndefined() ? true : args.boolean(det, "options.deterministic");
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
