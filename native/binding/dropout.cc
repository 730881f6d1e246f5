// Binding of dropout (kernels: cpu/dropout.cc, cuda/dropout.cu).
#include <string>

#include "binding/args.h"
#include "binding/pointwise_dispatch.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "ops/dropout.h"

namespace flexconv {
namespace binding {

// dropout(x, out, mask, p, seedHigh, seedLow): the mask keeps 1/(1-p) or 0 per element.
FLEXCONV_EXPORT(dropout) {
  Args args(info, "dropout");
  TensorView x = args.tensor(0, "x"), out = args.tensor(1, "out"), mask = args.tensor(2, "mask");
  const double p = args.number(3, "p");
  const std::int64_t hi = args.integer(4, "seedHigh"), lo = args.integer(5, "seedLow");
  if (!(p >= 0.0 && p <= 1.0)) args.fail("expected p in [0, 1] but received " + std::to_string(p));
  if (hi < 0 || hi > 0xffffffffLL || lo < 0 || lo > 0xffffffffLL) args.fail("seed words must be 32-bit unsigned");
  expect_numel(out, x.numel(), "dropout", "out");
  expect_numel(mask, x.numel(), "dropout", "mask");
  const std::uint64_t seed = (static_cast<std::uint64_t>(hi) << 32) | static_cast<std::uint64_t>(lo);
  if (use_cuda("dropout", {&x, &out, &mask})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::dropout_forward(x.data, out.data, mask.data, x.numel(), static_cast<float>(p), seed);
#endif
  } else {
    cpu::dropout_forward(x.data, out.data, mask.data, x.numel(), static_cast<float>(p), seed);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
