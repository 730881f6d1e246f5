// Fused optimizer updates: lib/optim computes the per-step scalars' inputs, the kernels
// update parameters and state in place in one pass over memory.
#include <cmath>
#include <string>

#include "binding/args.h"
#include "binding/cuda_memory.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "ops/optim.h"

namespace flexconv {
namespace binding {

namespace {

// Every state tensor must match the parameter in size and device (memory safety).
void expect_like(const TensorView& p, const TensorView& t, const char* fn, const char* name) {
  if (t.numel() != p.numel()) {
    throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": expected " + name + " to have " +
                                              std::to_string(p.numel()) + " elements like param but received " +
                                              shape_to_string(t.shape));
  }
  expect_same_device(p, t, fn, "param", name);
}

}  // namespace

// sgdUpdate(param, grad, momentumBuffer | null, lr, momentum, dampening, weightDecay, nesterov, maximize, first)
FLEXCONV_EXPORT(sgdUpdate) {
  Args args(info, "sgdUpdate");
  TensorView p = args.tensor(0, "param");
  TensorView g = args.tensor(1, "grad");
  TensorView buf = args.optional_tensor(2, "momentumBuffer");
  flexconv::optim::SgdScalars s{};
  s.lr = static_cast<float>(args.number(3, "lr"));
  s.momentum = static_cast<float>(args.number(4, "momentum"));
  s.keep_grad = 1.0f - static_cast<float>(args.number(5, "dampening"));
  s.weight_decay = static_cast<float>(args.number(6, "weightDecay"));
  s.nesterov = args.boolean(7, "nesterov");
  s.sign = args.boolean(8, "maximize") ? -1.0f : 1.0f;
  s.first = args.boolean(9, "first");
  expect_like(p, g, "sgdUpdate", "grad");
  float* b = nullptr;
  if (buf.data != nullptr) {
    expect_like(p, buf, "sgdUpdate", "momentumBuffer");
    b = buf.data;
  }
  if (p.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL("sgdUpdate", cuda::sgd_update(p.data, g.data, b, p.numel(), s));
  } else {
    cpu::sgd_update(p.data, g.data, b, p.numel(), s);
  }
  return info.Env().Undefined();
}

// adamUpdate(param, grad, expAvg, expAvgSq, maxExpAvgSq | null, lr, beta1, beta2, eps, weightDecay,
//            decoupled, maximize, step)
FLEXCONV_EXPORT(adamUpdate) {
  Args args(info, "adamUpdate");
  TensorView p = args.tensor(0, "param");
  TensorView g = args.tensor(1, "grad");
  TensorView m = args.tensor(2, "expAvg");
  TensorView v = args.tensor(3, "expAvgSq");
  TensorView vmax = args.optional_tensor(4, "maxExpAvgSq");
  double lr = args.number(5, "lr");
  double beta1 = args.number(6, "beta1");
  double beta2 = args.number(7, "beta2");
  double eps = args.number(8, "eps");
  double weight_decay = args.number(9, "weightDecay");
  bool decoupled = args.boolean(10, "decoupled");
  bool maximize = args.boolean(11, "maximize");
  std::int64_t step = args.integer(12, "step");
  if (step < 1) args.fail("expected step to be a positive integer but received " + std::to_string(step));
  expect_like(p, g, "adamUpdate", "grad");
  expect_like(p, m, "adamUpdate", "expAvg");
  expect_like(p, v, "adamUpdate", "expAvgSq");
  if (vmax.data != nullptr) expect_like(p, vmax, "adamUpdate", "maxExpAvgSq");
  flexconv::optim::AdamScalars s{};
  s.decay = decoupled ? static_cast<float>(1.0 - lr * weight_decay) : 1.0f;
  s.l2 = decoupled ? 0.0f : static_cast<float>(weight_decay);
  s.beta1 = static_cast<float>(beta1);
  s.beta2 = static_cast<float>(beta2);
  s.step_size = static_cast<float>(lr / (1.0 - std::pow(beta1, static_cast<double>(step))));
  s.inv_bc2_sqrt = static_cast<float>(1.0 / std::sqrt(1.0 - std::pow(beta2, static_cast<double>(step))));
  s.eps = static_cast<float>(eps);
  s.sign = maximize ? -1.0f : 1.0f;
  s.amsgrad = vmax.data != nullptr;
  if (p.device == Device::CUDA) {
    FLEXCONV_CUDA_CALL("adamUpdate", cuda::adam_update(p.data, g.data, m.data, v.data, vmax.data, p.numel(), s));
  } else {
    cpu::adam_update(p.data, g.data, m.data, v.data, vmax.data, p.numel(), s);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
