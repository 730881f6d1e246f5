// interpolate bindings: sizes come from the input and output tensors; the scale factors
// only change the coordinate mapping (PyTorch passes them to its kernels too).
#include <cmath>
#include <string>

#include "binding/args.h"
#include "binding/cuda_memory.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "ops/interpolate.h"

namespace flexconv {
namespace binding {

namespace {

// Reads mode, alignCorners, scaleH, scaleW at args[2..5].
InterpShape interp_shape(const Args& args, const TensorView& in, const TensorView& out, InterpMode* mode,
                         const char* fn) {
  expect_ndim(in, 4, fn, "x");
  expect_ndim(out, 4, fn, "y");
  expect_same_device(in, out, fn, "x", "y");
  if (in.dim(0) != out.dim(0) || in.dim(1) != out.dim(1) || in.dim(2) < 1 || in.dim(3) < 1 || out.dim(2) < 1 ||
      out.dim(3) < 1) {
    throw Error(ErrorCode::ShapeMismatch,
                std::string(fn) + ": cannot resize " + shape_to_string(in.shape) + " to " + shape_to_string(out.shape));
  }
  const std::string m = args.string(2, "mode");
  if (m == "nearest")
    *mode = InterpMode::Nearest;
  else if (m == "bilinear")
    *mode = InterpMode::Bilinear;
  else
    args.fail("expected mode to be 'nearest' or 'bilinear' but received \"" + m + "\"");
  const bool align = args.boolean(3, "alignCorners");
  const double sh = args.number(4, "scaleH"), sw = args.number(5, "scaleW");
  if (!std::isfinite(sh) || !std::isfinite(sw)) args.fail("scale factors must be finite");
  return InterpShape{in.dim(0) * in.dim(1), in.dim(2), in.dim(3), out.dim(2), out.dim(3), sh, sw, align};
}

}  // namespace

// interpolate2dForward(x, y, mode, alignCorners, scaleH, scaleW, base?): y = [base +] interpolate(x)
FLEXCONV_EXPORT(interpolate2dForward) {
  const char* fn = "interpolate2dForward";
  Args args(info, fn);
  TensorView x = args.tensor(0, "x");
  TensorView y = args.tensor(1, "y");
  InterpMode mode = InterpMode::Nearest;
  const InterpShape s = interp_shape(args, x, y, &mode, fn);
  TensorView base = args.optional_tensor(6, "base");
  if (base.data != nullptr) {
    expect_shape(base, y.shape, fn, "base");
    expect_same_device(base, y, fn, "base", "y");
  }
  if (x.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::interpolate2d_forward(s, mode, x.data, y.data, base.data));
  } else {
    cpu::interpolate2d_forward(s, mode, x.data, y.data, base.data);
  }
  return info.Env().Undefined();
}

// interpolate2dBackward(dy, gradX, mode, alignCorners, scaleH, scaleW)
FLEXCONV_EXPORT(interpolate2dBackward) {
  const char* fn = "interpolate2dBackward";
  Args args(info, fn);
  TensorView dy = args.tensor(0, "dy");
  TensorView gx = args.tensor(1, "gradX");
  InterpMode mode = InterpMode::Nearest;
  const InterpShape s = interp_shape(args, gx, dy, &mode, fn);
  if (dy.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL(fn, cuda::interpolate2d_backward(s, mode, dy.data, gx.data));
  } else {
    cpu::interpolate2d_backward(s, mode, dy.data, gx.data);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
