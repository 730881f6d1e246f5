// Bindings of the fused losses (kernels: cpu/loss.cc, cuda/loss.cu). Class-index
// targets are validated here, element by element, before any kernel indexes with them.
#include <cmath>
#include <string>

#include "binding/args.h"
#include "binding/pointwise_dispatch.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "cpu/loss.h"
#include "ops/loss.h"
#ifdef FLEXCONV_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace flexconv {
namespace binding {

namespace {

struct CeDims {
  std::int64_t N, C, S;
};

CeDims ce_dims(const Args& args, const TensorView& logits, const TensorView& target) {
  if (logits.ndim() < 2)
    args.fail("expected logits to have at least 2 dimensions [N, C, ...] but received shape " +
              shape_to_string(logits.shape));
  CeDims d{logits.dim(0), logits.dim(1), 1};
  for (int k = 2; k < logits.ndim(); ++k) d.S *= logits.dim(k);
  expect_numel(target, d.N * d.S, "crossEntropy", "target");
  return d;
}

// Every target must be an integer class in [0, C) or equal to ignore_index.
void validate_targets(const TensorView& target, std::int64_t C, std::int64_t ignore_index, bool on_cuda) {
  std::vector<float> host;
  const float* t = target.data;
  if (on_cuda) {
#ifdef FLEXCONV_WITH_CUDA
    host.resize(static_cast<std::size_t>(target.numel()));
    cuda::copy_to_host(host.data(), target.data, host.size() * sizeof(float));
    t = host.data();
#endif
  }
  for (std::int64_t i = 0; i < target.numel(); ++i) {
    const float v = t[i];
    const bool integer = std::isfinite(v) && std::floor(v) == v;
    if (integer && static_cast<std::int64_t>(v) == ignore_index) continue;
    if (!integer || v < 0 || v >= static_cast<float>(C)) {
      throw Error(ErrorCode::InvalidArgument, "crossEntropy: expected target to hold class indices in [0, " +
                                                  std::to_string(C) + ") or ignoreIndex (" +
                                                  std::to_string(ignore_index) + ") but target element " +
                                                  std::to_string(i) + " is " + std::to_string(v));
    }
  }
}

}  // namespace

// crossEntropy(logits, target, ignoreIndex, smoothing, loss, stats): per-position loss, and
// per-position [max, log-sum-exp shifted by max] pairs (stats has 2 * N * S elements) for the backward.
FLEXCONV_EXPORT(crossEntropy) {
  Args args(info, "crossEntropy");
  TensorView logits = args.tensor(0, "logits"), target = args.tensor(1, "target");
  const std::int64_t ignore = args.integer(2, "ignoreIndex");
  const float smoothing = static_cast<float>(args.number(3, "labelSmoothing"));
  TensorView loss = args.tensor(4, "loss"), stats = args.tensor(5, "stats");
  const CeDims d = ce_dims(args, logits, target);
  expect_numel(loss, d.N * d.S, "crossEntropy", "loss");
  expect_numel(stats, 2 * d.N * d.S, "crossEntropy", "stats");
  const bool cuda = use_cuda("crossEntropy", {&logits, &target, &loss, &stats});
  validate_targets(target, d.C, ignore, cuda);
  if (cuda) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::cross_entropy_forward(logits.data, target.data, d.N, d.C, d.S, ignore, smoothing, loss.data, stats.data);
#endif
  } else {
    cpu::cross_entropy_forward(logits.data, target.data, d.N, d.C, d.S, ignore, smoothing, loss.data, stats.data);
  }
  return info.Env().Undefined();
}

// crossEntropyBackward(logits, target, stats, weight, scale, ignoreIndex, smoothing, grad): weight
// has one element (broadcast) or one per position. Targets were validated by the forward.
FLEXCONV_EXPORT(crossEntropyBackward) {
  Args args(info, "crossEntropyBackward");
  TensorView logits = args.tensor(0, "logits"), target = args.tensor(1, "target"), stats = args.tensor(2, "stats");
  TensorView weight = args.tensor(3, "weight");
  const float scale = static_cast<float>(args.number(4, "scale"));
  const std::int64_t ignore = args.integer(5, "ignoreIndex");
  const float smoothing = static_cast<float>(args.number(6, "labelSmoothing"));
  TensorView grad = args.tensor(7, "grad");
  const CeDims d = ce_dims(args, logits, target);
  expect_numel(stats, 2 * d.N * d.S, "crossEntropyBackward", "stats");
  expect_numel(grad, logits.numel(), "crossEntropyBackward", "grad");
  const bool per_position = weight.numel() != 1;
  if (per_position) expect_numel(weight, d.N * d.S, "crossEntropyBackward", "weight");
  const bool cuda = use_cuda("crossEntropyBackward", {&logits, &target, &stats, &weight, &grad});
  // The target may have been changed in place since the forward: check again (memory safety).
  validate_targets(target, d.C, ignore, cuda);
  if (cuda) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::cross_entropy_backward(logits.data, target.data, stats.data, weight.data, per_position, scale, d.N, d.C, d.S,
                                 ignore, smoothing, grad.data);
#endif
  } else {
    cpu::cross_entropy_backward(logits.data, target.data, stats.data, weight.data, per_position, scale, d.N, d.C, d.S,
                                ignore, smoothing, grad.data);
  }
  return info.Env().Undefined();
}

// bceWithLogits(x, y, posWeight | null, posWeightScalar, out).
FLEXCONV_EXPORT(bceWithLogits) {
  Args args(info, "bceWithLogits");
  TensorView x = args.tensor(0, "x"), y = args.tensor(1, "y"), pw = args.optional_tensor(2, "posWeight");
  const float pw_scalar = static_cast<float>(args.number(3, "posWeightScalar"));
  TensorView out = args.tensor(4, "out");
  const std::int64_t n = x.numel();
  expect_numel(y, n, "bceWithLogits", "y");
  expect_numel(out, n, "bceWithLogits", "out");
  const bool has_pw = !args.is_nullish(2);
  if (has_pw) expect_numel(pw, n, "bceWithLogits", "posWeight");
  if (use_cuda("bceWithLogits", {&x, &y, &pw, &out})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::bce_logits_forward(x.data, y.data, has_pw ? pw.data : nullptr, pw_scalar, out.data, n);
#endif
  } else {
    cpu::bce_logits_forward(x.data, y.data, has_pw ? pw.data : nullptr, pw_scalar, out.data, n);
  }
  return info.Env().Undefined();
}

// bceWithLogitsBackward(x, y, posWeight | null, posWeightScalar, g, scale, gx | null, gy | null).
FLEXCONV_EXPORT(bceWithLogitsBackward) {
  Args args(info, "bceWithLogitsBackward");
  TensorView x = args.tensor(0, "x"), y = args.tensor(1, "y"), pw = args.optional_tensor(2, "posWeight");
  const float pw_scalar = static_cast<float>(args.number(3, "posWeightScalar"));
  TensorView g = args.tensor(4, "g");
  const float scale = static_cast<float>(args.number(5, "scale"));
  TensorView gx = args.optional_tensor(6, "gx"), gy = args.optional_tensor(7, "gy");
  const std::int64_t n = x.numel();
  expect_numel(y, n, "bceWithLogitsBackward", "y");
  const bool has_pw = !args.is_nullish(2), has_gx = !args.is_nullish(6), has_gy = !args.is_nullish(7);
  if (has_pw) expect_numel(pw, n, "bceWithLogitsBackward", "posWeight");
  if (has_gx) expect_numel(gx, n, "bceWithLogitsBackward", "gx");
  if (has_gy) expect_numel(gy, n, "bceWithLogitsBackward", "gy");
  const bool per_element = g.numel() != 1;
  if (per_element) expect_numel(g, n, "bceWithLogitsBackward", "g");
  if (use_cuda("bceWithLogitsBackward", {&x, &y, &pw, &g, &gx, &gy})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::bce_logits_backward(x.data, y.data, has_pw ? pw.data : nullptr, pw_scalar, g.data, per_element, scale,
                              has_gx ? gx.data : nullptr, has_gy ? gy.data : nullptr, n);
#endif
  } else {
    cpu::bce_logits_backward(x.data, y.data, has_pw ? pw.data : nullptr, pw_scalar, g.data, per_element, scale,
                             has_gx ? gx.data : nullptr, has_gy ? gy.data : nullptr, n);
  }
  return info.Env().Undefined();
}

// squaredErrorSum(x, y): the sum of (x - y)^2 (CPU tensors), as a number.
FLEXCONV_EXPORT(squaredErrorSum) {
  Args args(info, "squaredErrorSum");
  TensorView x = args.tensor(0, "x"), y = args.tensor(1, "y");
  expect_numel(y, x.numel(), "squaredErrorSum", "y");
  if (use_cuda("squaredErrorSum", {&x, &y})) args.fail("runs on CPU tensors only");
  return Napi::Number::New(info.Env(), cpu::squared_error_sum(x.data, y.data, x.numel()));
}

// squaredError(x, y, out): out = (x - y)^2 (CPU tensors).
FLEXCONV_EXPORT(squaredError) {
  Args args(info, "squaredError");
  TensorView x = args.tensor(0, "x"), y = args.tensor(1, "y"), out = args.tensor(2, "out");
  const std::int64_t n = x.numel();
  expect_numel(y, n, "squaredError", "y");
  expect_numel(out, n, "squaredError", "out");
  if (use_cuda("squaredError", {&x, &y, &out})) args.fail("runs on CPU tensors only");
  cpu::squared_error(x.data, y.data, out.data, n);
  return info.Env().Undefined();
}

// squaredErrorBackward(x, y, g, scale, gx | null, gy | null) (CPU tensors).
FLEXCONV_EXPORT(squaredErrorBackward) {
  Args args(info, "squaredErrorBackward");
  TensorView x = args.tensor(0, "x"), y = args.tensor(1, "y"), g = args.tensor(2, "g");
  const float scale = static_cast<float>(args.number(3, "scale"));
  TensorView gx = args.optional_tensor(4, "gx"), gy = args.optional_tensor(5, "gy");
  const std::int64_t n = x.numel();
  expect_numel(y, n, "squaredErrorBackward", "y");
  const bool has_gx = !args.is_nullish(4), has_gy = !args.is_nullish(5);
  if (has_gx) expect_numel(gx, n, "squaredErrorBackward", "gx");
  if (has_gy) expect_numel(gy, n, "squaredErrorBackward", "gy");
  const bool per_element = g.numel() != 1;
  if (per_element) expect_numel(g, n, "squaredErrorBackward", "g");
  if (use_cuda("squaredErrorBackward", {&x, &y, &g, &gx, &gy})) args.fail("runs on CPU tensors only");
  cpu::squared_error_backward(x.data, y.data, g.data, per_element, scale, has_gx ? gx.data : nullptr,
                              has_gy ? gy.data : nullptr, n);
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
