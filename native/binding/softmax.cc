// Bindings of softmax / log_softmax (kernels: cpu/softmax.cc, cuda/softmax.cu).
#include <string>

#include "binding/args.h"
#include "binding/pointwise_dispatch.h"
#include "binding/registry.h"
#include "ops/softmax.h"

namespace flexconv {
namespace binding {

namespace {
struct Dims {
  std::int64_t outer = 1, n = 1, inner = 1;
};
Dims split_at(const Args& args, const TensorView& x, std::int64_t dim) {
  if (dim < 0 || dim >= x.ndim()) {
    args.fail("dim " + std::to_string(dim) + " is out of range for shape " + shape_to_string(x.shape));
  }
  Dims d;
  for (int k = 0; k < x.ndim(); ++k) {
    if (k < dim)
      d.outer *= x.dim(k);
    else if (k == dim)
      d.n = x.dim(k);
    else
      d.inner *= x.dim(k);
  }
  return d;
}
}  // namespace

// softmax(x, dim, out, log).
FLEXCONV_EXPORT(softmax) {
  Args args(info, "softmax");
  TensorView x = args.tensor(0, "x");
  const std::int64_t dim = args.integer(1, "dim");
  TensorView out = args.tensor(2, "out");
  const bool log = args.boolean(3, "log");
  const Dims d = split_at(args, x, dim);
  expect_numel(out, x.numel(), "softmax", "out");
  if (use_cuda("softmax", {&x, &out})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::softmax_forward(x.data, out.data, d.outer, d.n, d.inner, log);
#endif
  } else {
    cpu::softmax_forward(x.data, out.data, d.outer, d.n, d.inner, log);
  }
  return info.Env().Undefined();
}

// softmaxBackward(y, g, dim, gx, log).
FLEXCONV_EXPORT(softmaxBackward) {
  Args args(info, "softmaxBackward");
  TensorView y = args.tensor(0, "y"), g = args.tensor(1, "g");
  const std::int64_t dim = args.integer(2, "dim");
  TensorView gx = args.tensor(3, "gx");
  const bool log = args.boolean(4, "log");
  const Dims d = split_at(args, y, dim);
  expect_numel(g, y.numel(), "softmaxBackward", "g");
  expect_numel(gx, y.numel(), "softmaxBackward", "gx");
  if (use_cuda("softmaxBackward", {&y, &g, &gx})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::softmax_backward(y.data, g.data, gx.data, d.outer, d.n, d.inner, log);
#endif
  } else {
    cpu::softmax_backward(y.data, g.data, gx.data, d.outer, d.n, d.inner, log);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
