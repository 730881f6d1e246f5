// Pooling bindings: the output shape is recomputed here from the parameters (math/pooling.h)
// and the caller's output tensors must match it, so a kernel never writes out of bounds.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "binding/args.h"
#include "binding/cuda_memory.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "ops/pooling.h"
#include "math/pooling.h"

namespace flexconv {
namespace binding {

namespace {

bool flag(const Args& args, size_t i, const char* key) {
  return args.boolean(args.option(i, "options", key), std::string("options.") + key);
}

// Reads the options object at args[i] ({ kernelSize, stride, padding, dilation (max pooling
// only), ceilMode }) and sets the output size.
PoolShape pool_shape(const Args& args, const TensorView& x, size_t i, bool has_dilation, const char* fn) {
  expect_ndim(x, 4, fn, "x");
  const bool ceil_mode = flag(args, i, "ceilMode");
  const auto k = args.option_pair(i, "kernelSize", 1);
  const auto st = args.option_pair(i, "stride", 1);
  const auto pd = args.option_pair(i, "padding", 0);
  const auto dl = has_dilation ? args.option_pair(i, "dilation", 1) : std::array<std::int64_t, 2>{1, 1};
  if (pd[0] * 2 > k[0] || pd[1] * 2 > k[1]) args.fail("padding must be at most half the kernel size");
  PoolShape s{x.dim(0) * x.dim(1), x.dim(2), x.dim(3), 0, 0, k[0], k[1], st[0], st[1], pd[0], pd[1], dl[0], dl[1]};
  s.out_h = math::pool_out_size(s.in_h, s.kernel_h, s.stride_h, s.pad_h, s.dil_h, ceil_mode);
  s.out_w = math::pool_out_size(s.in_w, s.kernel_w, s.stride_w, s.pad_w, s.dil_w, ceil_mode);
  // (k - 1) * dil + 1 > room, written without the product (which could overflow).
  auto wider = [](std::int64_t k, std::int64_t dil, std::int64_t room) { return room < 1 || k - 1 > (room - 1) / dil; };
  const bool too_wide =
      wider(s.kernel_h, s.dil_h, s.in_h + 2 * s.pad_h) || wider(s.kernel_w, s.dil_w, s.in_w + 2 * s.pad_w);
  if (s.out_h <= 0 || s.out_w <= 0 || too_wide) {
    throw Error(ErrorCode::ShapeMismatch,
                std::string(fn) + ": the kernel is larger than the padded input " + shape_to_string(x.shape));
  }
  // A stride beyond the padded input only ever places one window (every later one would start
  // outside), so clamping it there changes no output but keeps the kernels' stride-sized
  // scratch rows bounded (a stride of 2^53 must not become a 2^54-float allocation).
  s.stride_h = std::min(s.stride_h, s.in_h + 2 * s.pad_h);
  s.stride_w = std::min(s.stride_w, s.in_w + 2 * s.pad_w);
  return s;
}

std::vector<std::int64_t> out_shape(const TensorView& x, const PoolShape& s) {
  return {x.dim(0), x.dim(1), s.out_h, s.out_w};
}

}  // namespace

// maxPool2dForward(x, y, indices?, options { kernelSize, stride, padding, dilation, ceilMode }); without
// indices only the values are computed (inference).
FLEXCONV_EXPORT(maxPool2dForward) {
  const char* fn = "maxPool2dForward";
  Args args(info, fn);
  TensorView x = args.tensor(0, "x");
  TensorView y = args.tensor(1, "y");
  const bool with_indices = !args.is_nullish(2);
  TensorView idx = with_indices ? args.tensor(2, "indices") : TensorView{};
  const PoolShape s = pool_shape(args, x, 3, true, fn);
  expect_shape(y, out_shape(x, s), fn, "y");
  expect_same_device(x, y, fn, "x", "y");
  if (with_indices) {
    expect_shape(idx, out_shape(x, s), fn, "indices");
    expect_same_device(x, idx, fn, "x", "indices");
  }
  if (s.in_h * s.in_w > INT32_MAX) args.fail("input planes larger than 2^31 elements are not supported");
  auto* indices = with_indices ? reinterpret_cast<std::int32_t*>(idx.data) : nullptr;
  if (x.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::max_pool2d_forward(s, x.data, y.data, indices));
  } else {
    cpu::max_pool2d_forward(s, x.data, y.data, indices);
  }
  return info.Env().Undefined();
}

// maxPool2dBackward(dy, indices, gradX)
FLEXCONV_EXPORT(maxPool2dBackward) {
  const char* fn = "maxPool2dBackward";
  Args args(info, fn);
  TensorView dy = args.tensor(0, "dy");
  TensorView idx = args.tensor(1, "indices");
  TensorView gx = args.tensor(2, "gradX");
  expect_ndim(dy, 4, fn, "dy");
  expect_ndim(gx, 4, fn, "gradX");
  expect_shape(idx, dy.shape, fn, "indices");
  if (gx.dim(0) != dy.dim(0) || gx.dim(1) != dy.dim(1)) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": gradX " + shape_to_string(gx.shape) + " and dy " +
                                              shape_to_string(dy.shape) + " differ in batch or channels");
  }
  expect_same_device(dy, idx, fn, "dy", "indices");
  expect_same_device(dy, gx, fn, "dy", "gradX");
  PoolShape s{dy.dim(0) * dy.dim(1), gx.dim(2), gx.dim(3), dy.dim(2), dy.dim(3), 1, 1, 1, 1, 0, 0, 1, 1};
  const auto* indices = reinterpret_cast<const std::int32_t*>(idx.data);
  if (dy.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::max_pool2d_backward(s, dy.data, indices, gx.data));
  } else {
    cpu::max_pool2d_backward(s, dy.data, indices, gx.data);
  }
  return info.Env().Undefined();
}

// avgPool2dForward(x, y, options { kernelSize, stride, padding, ceilMode, countIncludePad })
FLEXCONV_EXPORT(avgPool2dForward) {
  const char* fn = "avgPool2dForward";
  Args args(info, fn);
  TensorView x = args.tensor(0, "x");
  TensorView y = args.tensor(1, "y");
  const PoolShape s = pool_shape(args, x, 2, false, fn);
  const bool include_pad = flag(args, 2, "countIncludePad");
  expect_shape(y, out_shape(x, s), fn, "y");
  expect_same_device(x, y, fn, "x", "y");
  if (x.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::avg_pool2d_forward(s, x.data, y.data, include_pad));
  } else {
    cpu::avg_pool2d_forward(s, x.data, y.data, include_pad);
  }
  return info.Env().Undefined();
}

// avgPool2dBackward(dy, gradX, options { kernelSize, stride, padding, ceilMode, countIncludePad })
FLEXCONV_EXPORT(avgPool2dBackward) {
  const char* fn = "avgPool2dBackward";
  Args args(info, fn);
  TensorView dy = args.tensor(0, "dy");
  TensorView gx = args.tensor(1, "gradX");
  const PoolShape s = pool_shape(args, gx, 2, false, fn);
  const bool include_pad = flag(args, 2, "countIncludePad");
  expect_shape(dy, out_shape(gx, s), fn, "dy");
  expect_same_device(dy, gx, fn, "dy", "gradX");
  if (dy.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::avg_pool2d_backward(s, dy.data, gx.data, include_pad));
  } else {
    cpu::avg_pool2d_backward(s, dy.data, gx.data, include_pad);
  }
  return info.Env().Undefined();
}

namespace {

PoolShape adaptive_shape(const TensorView& in, const TensorView& out, const char* fn) {
  expect_ndim(in, 4, fn, "x");
  expect_ndim(out, 4, fn, "y");
  if (in.dim(0) != out.dim(0) || in.dim(1) != out.dim(1) || out.dim(2) < 1 || out.dim(3) < 1 ||
      (in.dim(2) * in.dim(3) == 0)) {
    throw Error(ErrorCode::ShapeMismatch,
                std::string(fn) + ": cannot pool " + shape_to_string(in.shape) + " to " + shape_to_string(out.shape));
  }
  return PoolShape{in.dim(0) * in.dim(1), in.dim(2), in.dim(3), out.dim(2), out.dim(3), 1, 1, 1, 1, 0, 0, 1, 1};
}

}  // namespace

// adaptiveAvgPool2dForward(x, y): the output size is y's.
FLEXCONV_EXPORT(adaptiveAvgPool2dForward) {
  const char* fn = "adaptiveAvgPool2dForward";
  Args args(info, fn);
  TensorView x = args.tensor(0, "x");
  TensorView y = args.tensor(1, "y");
  const PoolShape s = adaptive_shape(x, y, fn);
  expect_same_device(x, y, fn, "x", "y");
  if (x.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::adaptive_avg_pool2d_forward(s, x.data, y.data));
  } else {
    cpu::adaptive_avg_pool2d_forward(s, x.data, y.data);
  }
  return info.Env().Undefined();
}

// adaptiveAvgPool2dBackward(dy, gradX)
FLEXCONV_EXPORT(adaptiveAvgPool2dBackward) {
  const char* fn = "adaptiveAvgPool2dBackward";
  Args args(info, fn);
  TensorView dy = args.tensor(0, "dy");
  TensorView gx = args.tensor(1, "gradX");
  const PoolShape s = adaptive_shape(gx, dy, fn);
  expect_same_device(dy, gx, fn, "dy", "gradX");
  if (dy.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::adaptive_avg_pool2d_backward(s, dy.data, gx.data));
  } else {
    cpu::adaptive_avg_pool2d_backward(s, dy.data, gx.data);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
