// batch_norm bindings: validate shapes and devices, dispatch to the CPU or CUDA kernel.
#include <string>

#include "binding/args.h"
#include "binding/cuda_memory.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "ops/batch_norm.h"

namespace flexconv {
namespace binding {

namespace {

// A per-channel vector argument: absent, or [C] on the same device as x.
float* channel_vector(const Args& args, size_t i, const char* name, const TensorView& x, const char* fn) {
  TensorView t = args.optional_tensor(i, name);
  if (t.data == nullptr && t.shape.empty()) return nullptr;
  expect_shape(t, {x.dim(1)}, fn, name);
  expect_same_device(x, t, fn, "x", name);
  return t.data;
}

// An optional tensor of x's shape on x's device (residual, the ReLU output, the residual's
// gradient), or null.
float* optional_like_x(const Args& args, size_t i, const char* name, const TensorView& x, const char* fn) {
  if (args.is_nullish(i)) return nullptr;
  TensorView t = args.tensor(i, name);
  expect_shape(t, x.shape, fn, name);
  expect_same_device(x, t, fn, "x", name);
  return t.data;
}

}  // namespace

// batchNorm2dForward(x, y, runningMean?, runningVar?, weight?, bias?, saveMean, saveInvstd,
//                    training, momentum, eps, residual?, relu?): y = relu?(bn(x) + residual?); the
// epilogue (residual, relu) on the CPU only.
FLEXCONV_EXPORT(batchNorm2dForward) {
  const char* fn = "batchNorm2dForward";
  Args args(info, fn);
  TensorView x = args.tensor(0, "x");
  expect_ndim(x, 4, fn, "x");
  TensorView y = args.tensor(1, "y");
  expect_shape(y, x.shape, fn, "y");
  expect_same_device(x, y, fn, "x", "y");
  float* running_mean = channel_vector(args, 2, "runningMean", x, fn);
  float* running_var = channel_vector(args, 3, "runningVar", x, fn);
  const float* weight = channel_vector(args, 4, "weight", x, fn);
  const float* bias = channel_vector(args, 5, "bias", x, fn);
  float* save_mean = channel_vector(args, 6, "saveMean", x, fn);
  float* save_invstd = channel_vector(args, 7, "saveInvstd", x, fn);
  const bool training = args.boolean(8, "training");
  const float momentum = static_cast<float>(args.number(9, "momentum"));
  const float eps = static_cast<float>(args.number(10, "eps"));
  const float* residual = optional_like_x(args, 11, "residual", x, fn);
  const bool relu = !args.is_nullish(12) && args.boolean(12, "relu");
  if (!save_mean || !save_invstd) args.fail("saveMean and saveInvstd are required");
  if (!training && (!running_mean || !running_var)) args.fail("runningMean and runningVar are required in eval mode");
  const BatchNormShape s{x.dim(0), x.dim(1), x.dim(2) * x.dim(3)};
  if (x.device == Device::CUDA) {
    if (residual || relu) args.fail("the residual and relu epilogue runs on the CPU only");
    FLEXCONV_CUDA_CALL(fn, cuda::batch_norm_forward(s, x.data, y.data, running_mean, running_var, weight, bias,
                                                    save_mean, save_invstd, training, momentum, eps));
  } else {
    cpu::batch_norm_forward_fused(s, x.data, y.data, running_mean, running_var, weight, bias, save_mean, save_invstd,
                                  training, momentum, eps, residual, relu);
  }
  return info.Env().Undefined();
}

// batchNorm2dBackward(x, dy, saveMean, saveInvstd, weight?, gradX?, gradWeight?, gradBias?, training,
//                     out?, gradResidual?): dy is the gradient of relu?(bn(x) + residual?); `out`, that
// output when the forward applied ReLU, masks it; gradResidual receives the gradient of the sum
// (CPU only, as the forward's epilogue).
FLEXCONV_EXPORT(batchNorm2dBackward) {
  const char* fn = "batchNorm2dBackward";
  Args args(info, fn);
  TensorView x = args.tensor(0, "x");
  expect_ndim(x, 4, fn, "x");
  TensorView dy = args.tensor(1, "dy");
  expect_shape(dy, x.shape, fn, "dy");
  expect_same_device(x, dy, fn, "x", "dy");
  const float* save_mean = channel_vector(args, 2, "saveMean", x, fn);
  const float* save_invstd = channel_vector(args, 3, "saveInvstd", x, fn);
  const float* weight = channel_vector(args, 4, "weight", x, fn);
  float* grad_x = nullptr;
  if (!args.is_nullish(5)) {
    TensorView gx = args.tensor(5, "gradX");
    expect_shape(gx, x.shape, fn, "gradX");
    expect_same_device(x, gx, fn, "x", "gradX");
    grad_x = gx.data;
  }
  float* grad_weight = channel_vector(args, 6, "gradWeight", x, fn);
  float* grad_bias = channel_vector(args, 7, "gradBias", x, fn);
  const bool training = args.boolean(8, "training");
  const float* out = optional_like_x(args, 9, "out", x, fn);
  float* grad_residual = optional_like_x(args, 10, "gradResidual", x, fn);
  if (!save_mean || !save_invstd) args.fail("saveMean and saveInvstd are required");
  const BatchNormShape s{x.dim(0), x.dim(1), x.dim(2) * x.dim(3)};
  if (x.device == Device::CUDA) {
    if (out || grad_residual) args.fail("the residual and relu epilogue runs on the CPU only");
    FLEXCONV_CUDA_CALL(fn, cuda::batch_norm_backward(s, x.data, dy.data, save_mean, save_invstd, weight, grad_x,
                                                     grad_weight, grad_bias, training));
  } else {
    cpu::batch_norm_backward_fused(s, x.data, dy.data, out, save_mean, save_invstd, weight, grad_x, grad_weight,
                                   grad_bias, grad_residual, training);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
