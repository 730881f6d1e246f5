// Bindings of the reductions (kernels: cpu/reduction.cc, cuda/reduction.cu).
#include <string>

#include "binding/args.h"
#include "binding/pointwise_dispatch.h"
#include "binding/registry.h"
#include "ops/reduction.h"

namespace flexconv {
namespace binding {

// sumDims(x, dims, out, scale): out = scale * sum of x over `dims` (distinct, in range);
// out holds the kept dimensions (any shape with that many elements).
FLEXCONV_EXPORT(sumDims) {
  Args args(info, "sumDims");
  TensorView x = args.tensor(0, "x");
  std::vector<std::int64_t> dims = args.int_list(1, "dims");
  TensorView out = args.tensor(2, "out");
  const float scale = static_cast<float>(args.number(3, "scale"));
  std::vector<bool> reduce(x.shape.size(), false);
  for (std::int64_t d : dims) {
    if (d < 0 || d >= x.ndim())
      args.fail("dimension " + std::to_string(d) + " is out of range for shape " + shape_to_string(x.shape));
    if (reduce[static_cast<std::size_t>(d)]) args.fail("dimension " + std::to_string(d) + " is repeated");
    reduce[static_cast<std::size_t>(d)] = true;
  }
  std::int64_t kept = 1;
  for (int d = 0; d < x.ndim(); ++d) {
    if (!reduce[static_cast<std::size_t>(d)]) kept *= x.shape[static_cast<std::size_t>(d)];
  }
  expect_numel(out, kept, "sumDims", "out");
  if (use_cuda("sumDims", {&x, &out})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::sum_dims(x.data, x.shape, reduce, scale, out.data);
#endif
  } else {
    cpu::sum_dims(x.data, x.shape, reduce, scale, out.data);
  }
  return info.Env().Undefined();
}

// argmax(x, dim, out): indices (as float) of the maxima along `dim`.
FLEXCONV_EXPORT(argmax) {
  Args args(info, "argmax");
  TensorView x = args.tensor(0, "x");
  const std::int64_t dim = args.integer(1, "dim");
  TensorView out = args.tensor(2, "out");
  if (dim < 0 || dim >= x.ndim())
    args.fail("dim " + std::to_string(dim) + " is out of range for shape " + shape_to_string(x.shape));
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t d = 0; d < dim; ++d) outer *= x.dim(static_cast<int>(d));
  for (std::int64_t d = dim + 1; d < x.ndim(); ++d) inner *= x.dim(static_cast<int>(d));
  const std::int64_t n = x.dim(static_cast<int>(dim));
  if (n == 0) args.fail("cannot take the argmax of an empty dimension");
  expect_numel(out, outer * inner, "argmax", "out");
  if (use_cuda("argmax", {&x, &out})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::argmax(x.data, outer, n, inner, out.data);
#endif
  } else {
    cpu::argmax(x.data, outer, n, inner, out.data);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
