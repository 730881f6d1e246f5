// matmul bindings: the GEMM core for users, tests and benchmarks.
#include <string>

#include "binding/args.h"
#include "binding/registry.h"
#include "core/errors.h"
#include "cpu/gemm/gemm.h"
#ifdef FLEXCONV_WITH_CUDA
#include "cuda/gemm.h"
#endif

namespace flexconv {
namespace binding {

// gemm(a, b, c, transA, transB, alpha, beta): c = alpha * op(a) @ op(b) + beta * c, where
// a, b, c are 3-D (batch, rows, cols) tensors; batch 1 of a or b broadcasts.
FLEXCONV_EXPORT(gemm) {
  Args args(info, "gemm");
  TensorView a = args.tensor(0, "a");
  TensorView b = args.tensor(1, "b");
  TensorView c = args.tensor(2, "c");
  bool trans_a = args.boolean(3, "transA");
  bool trans_b = args.boolean(4, "transB");
  float alpha = static_cast<float>(args.number(5, "alpha"));
  float beta = static_cast<float>(args.number(6, "beta"));
  expect_ndim(a, 3, "gemm", "a");
  expect_ndim(b, 3, "gemm", "b");
  expect_ndim(c, 3, "gemm", "c");
  expect_same_device(a, b, "gemm", "a", "b");
  expect_same_device(a, c, "gemm", "a", "c");
  const std::int64_t batch = c.dim(0);
  const std::int64_t M = trans_a ? a.dim(2) : a.dim(1);
  const std::int64_t K = trans_a ? a.dim(1) : a.dim(2);
  const std::int64_t Kb = trans_b ? b.dim(2) : b.dim(1);
  const std::int64_t N = trans_b ? b.dim(1) : b.dim(2);
  if (K != Kb) {
    throw Error(ErrorCode::ShapeMismatch, "gemm: inner dimensions differ: op(a) is " + std::to_string(M) + "x" +
                                              std::to_string(K) + " but op(b) is " + std::to_string(Kb) + "x" +
                                              std::to_string(N));
  }
  if (c.dim(1) != M || c.dim(2) != N) {
    throw Error(ErrorCode::ShapeMismatch, "gemm: expected c of shape [" + std::to_string(batch) + ", " +
                                              std::to_string(M) + ", " + std::to_string(N) + "] but received " +
                                              shape_to_string(c.shape));
  }
  for (const auto* t : {&a, &b}) {
    if (t->dim(0) != batch && t->dim(0) != 1) {
      throw Error(ErrorCode::ShapeMismatch, std::string("gemm: batch of ") + (t == &a ? "a" : "b") + " is " +
                                                std::to_string(t->dim(0)) + " but c has batch " +
                                                std::to_string(batch) + " (expected equal or 1)");
    }
  }
  const std::int64_t stride_a = a.dim(0) == 1 ? 0 : a.dim(1) * a.dim(2);
  const std::int64_t stride_b = b.dim(0) == 1 ? 0 : b.dim(1) * b.dim(2);
  if (c.device == Device::CUDA) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::sgemm_strided_batched(trans_a, trans_b, M, N, K, alpha, a.data, a.dim(2), stride_a, b.data, b.dim(2),
                                stride_b, beta, c.data, N, M * N, batch);
#endif
  } else {
    flexconv::gemm::sgemm_strided_batched(trans_a, trans_b, M, N, K, alpha, a.data, a.dim(2), stride_a, b.data,
                                          b.dim(2), stride_b, beta, c.data, N, M * N, batch);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
