// Bindings of the elementwise family (kernels: cpu/elementwise.cc, cuda/elementwise.cu).
// Op codes come from math/pointwise.h and are range-checked here.
#include <string>

#include "binding/args.h"
#include "binding/pointwise_dispatch.h"
#include "binding/registry.h"
#include "core/broadcast.h"
#include "cpu/elementwise.h"
#include "math/pointwise.h"

namespace flexconv {
namespace binding {

namespace {
int op_code(const Args& args, size_t i, int count) {
  const std::int64_t op = args.integer(i, "op");
  if (op < 0 || op >= count) args.fail("unknown op code " + std::to_string(op));
  return static_cast<int>(op);
}
}  // namespace

// unary(x, out, op, a, b): out = f(x).
FLEXCONV_EXPORT(unary) {
  Args args(info, "unary");
  TensorView x = args.tensor(0, "x"), out = args.tensor(1, "out");
  const int op = op_code(args, 2, math::kUnaryCount);
  const float a = static_cast<float>(args.number(3, "a")), b = static_cast<float>(args.number(4, "b"));
  expect_numel(out, x.numel(), "unary", "out");
  if (use_cuda("unary", {&x, &out})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::unary(op, x.data, out.data, x.numel(), a, b);
#endif
  } else {
    cpu::unary(op, x.data, out.data, x.numel(), a, b);
  }
  return info.Env().Undefined();
}

// unaryBackward(g, x | null, y | null, gx, op, a, b).
FLEXCONV_EXPORT(unaryBackward) {
  Args args(info, "unaryBackward");
  TensorView g = args.tensor(0, "g"), x = args.optional_tensor(1, "x"), y = args.optional_tensor(2, "y");
  TensorView gx = args.tensor(3, "gx");
  const int op = op_code(args, 4, math::kUnaryCount);
  const float a = static_cast<float>(args.number(5, "a")), b = static_cast<float>(args.number(6, "b"));
  const std::int64_t n = g.numel();
  expect_numel(gx, n, "unaryBackward", "gx");
  if (!args.is_nullish(1)) expect_numel(x, n, "unaryBackward", "x");
  if (!args.is_nullish(2)) expect_numel(y, n, "unaryBackward", "y");
  // Which saved tensor each formula reads; the other may be absent.
  using namespace flexconv::math;
  const bool needs_y = op == kExp || op == kSqrt || op == kSigmoid || op == kTanh;
  const bool needs_x = !needs_y && op != kNeg && op != kAffine;
  if (needs_x && args.is_nullish(1)) args.fail("this op's gradient needs x");
  if (needs_y && args.is_nullish(2)) args.fail("this op's gradient needs y");
  const float* xp = args.is_nullish(1) ? nullptr : x.data;
  const float* yp = args.is_nullish(2) ? nullptr : y.data;
  if (use_cuda("unaryBackward", {&g, &x, &y, &gx})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::unary_backward(op, g.data, xp, yp, gx.data, n, a, b);
#endif
  } else {
    cpu::unary_backward(op, g.data, xp, yp, gx.data, n, a, b);
  }
  return info.Env().Undefined();
}

// binary(a, b, out, op): out = a (op) b with NumPy broadcasting; out must have the broadcast shape.
FLEXCONV_EXPORT(binary) {
  Args args(info, "binary");
  TensorView a = args.tensor(0, "a"), b = args.tensor(1, "b"), out = args.tensor(2, "out");
  const int op = op_code(args, 3, math::kBinaryCount);
  flexconv::BroadcastPlan plan;
  if (op == math::kSecond) {
    // expand: out = b broadcast to out's shape; a is not read (b stands in for it).
    if (flexconv::broadcast_shape(out.shape, b.shape, "expand") != out.shape) {
      throw Error(ErrorCode::ShapeMismatch,
                  "expand: cannot expand shape " + shape_to_string(b.shape) + " to " + shape_to_string(out.shape));
    }
    plan = flexconv::plan_broadcast(out.shape, b.shape, b.shape);
    a = b;
  } else {
    const std::vector<std::int64_t> shape = flexconv::broadcast_shape(a.shape, b.shape, "binary");
    expect_shape(out, shape, "binary", "out");
    plan = flexconv::plan_broadcast(shape, a.shape, b.shape);
  }
  if (use_cuda("binary", {&a, &b, &out})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::binary(op, a.data, b.data, out.data, plan);
#endif
  } else {
    cpu::binary(op, a.data, b.data, out.data, plan);
  }
  return info.Env().Undefined();
}

// fill(out, value).
FLEXCONV_EXPORT(fill) {
  Args args(info, "fill");
  TensorView out = args.tensor(0, "out");
  const float value = static_cast<float>(args.number(1, "value"));
  if (use_cuda("fill", {&out})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::fill(out.data, out.numel(), value);
#endif
  } else {
    cpu::fill(out.data, out.numel(), value);
  }
  return info.Env().Undefined();
}

// addInPlace(out, x): out += x, same number of elements.
FLEXCONV_EXPORT(addInPlace) {
  Args args(info, "addInPlace");
  TensorView out = args.tensor(0, "out"), x = args.tensor(1, "x");
  expect_numel(x, out.numel(), "addInPlace", "x");
  if (use_cuda("addInPlace", {&out, &x})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::add_in_place(out.data, x.data, out.numel());
#endif
  } else {
    cpu::add_in_place(out.data, x.data, out.numel());
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
