// CUDA elementwise kernels: grid-stride loops over the same templated formulas the CPU uses
// (math/pointwise.h). Broadcasting uses the merged plan of core/broadcast.h, passed by value.
#include <cuda_runtime.h>

#include <string>

#include "core/errors.h"
#include "ops/elementwise.h"
#include "cuda/launch.cuh"
#include "cuda/runtime.h"
#include "math/pointwise.h"

namespace flexconv {
namespace cuda {
namespace {

constexpr int kMaxDims = 8;

template <int Op>
__global__ void unary_kernel(const float* x, float* y, std::int64_t n, float a, float b) {
  FLEXCONV_GRID_STRIDE(i, n) { y[i] = math::unary_forward<Op>(x[i], a, b); }
}

template <int Op>
__global__ void unary_backward_kernel(const float* g, const float* x, const float* y, float* gx, std::int64_t n,
                                      float a, float b) {
  FLEXCONV_GRID_STRIDE(i, n) { gx[i] = math::unary_backward<Op>(g[i], x ? x[i] : 0.0f, y ? y[i] : 0.0f, a, b); }
}

struct Plan {
  int ndim;
  std::int64_t shape[kMaxDims];
  std::int64_t stride_a[kMaxDims];
  std::int64_t stride_b[kMaxDims];
};

template <int Op>
__global__ void binary_kernel(const float* a, const float* b, float* out, std::int64_t n, Plan plan) {
  FLEXCONV_GRID_STRIDE(i, n) {
    std::int64_t rest = i, oa = 0, ob = 0;
    for (int d = plan.ndim - 1; d >= 0; --d) {
      const std::int64_t k = rest % plan.shape[d];
      rest /= plan.shape[d];
      oa += k * plan.stride_a[d];
      ob += k * plan.stride_b[d];
    }
    out[i] = math::binary_forward<Op>(a[oa], b[ob]);
  }
}

__global__ void fill_kernel(float* out, std::int64_t n, float value) {
  FLEXCONV_GRID_STRIDE(i, n) { out[i] = value; }
}

__global__ void add_in_place_kernel(float* out, const float* x, std::int64_t n) {
  FLEXCONV_GRID_STRIDE(i, n) { out[i] += x[i]; }
}

template <int Op>
void launch_unary(const float* x, float* y, std::int64_t n, float a, float b) {
  unary_kernel<Op><<<grid_blocks(n), kThreads>>>(x, y, n, a, b);
}

template <int Op>
void launch_unary_backward(const float* g, const float* x, const float* y, float* gx, std::int64_t n, float a,
                           float b) {
  unary_backward_kernel<Op><<<grid_blocks(n), kThreads>>>(g, x, y, gx, n, a, b);
}

template <int Op>
void launch_binary(const float* a, const float* b, float* out, const Plan& plan, std::int64_t n) {
  binary_kernel<Op><<<grid_blocks(n), kThreads>>>(a, b, out, n, plan);
}

[[noreturn]] void bad_op(const char* fn, int op) {
  throw Error(ErrorCode::InvalidArgument, std::string(fn) + ": unknown op code " + std::to_string(op));
}

}  // namespace

void unary(int op, const float* x, float* y, std::int64_t n, float a, float b) {
  if (n == 0) return;
  switch (op) {
#define FLEXCONV_CASE(OP)                  \
  case math::OP:                           \
    launch_unary<math::OP>(x, y, n, a, b); \
    break;
    FLEXCONV_FOR_EACH_UNARY_OP(FLEXCONV_CASE)
#undef FLEXCONV_CASE
    default:
      bad_op("unary", op);
  }
  check_last_launch("unary");
}

void unary_backward(int op, const float* g, const float* x, const float* y, float* gx, std::int64_t n, float a,
                    float b) {
  if (n == 0) return;
  switch (op) {
#define FLEXCONV_CASE(OP)                                  \
  case math::OP:                                           \
    launch_unary_backward<math::OP>(g, x, y, gx, n, a, b); \
    break;
    FLEXCONV_FOR_EACH_UNARY_OP(FLEXCONV_CASE)
#undef FLEXCONV_CASE
    default:
      bad_op("unaryBackward", op);
  }
  check_last_launch("unaryBackward");
}

void binary(int op, const float* a, const float* b, float* out, const BroadcastPlan& bp) {
  if (bp.numel == 0) return;
  if (bp.shape.size() > static_cast<std::size_t>(kMaxDims)) {
    throw Error(ErrorCode::InvalidArgument, "binary: CUDA broadcasting supports at most 8 (merged) dimensions");
  }
  Plan plan{};
  plan.ndim = static_cast<int>(bp.shape.size());
  for (int d = 0; d < plan.ndim; ++d) {
    plan.shape[d] = bp.shape[d];
    plan.stride_a[d] = bp.stride_a[d];
    plan.stride_b[d] = bp.stride_b[d];
  }
  switch (op) {
#define FLEXCONV_CASE(OP)                               \
  case math::OP:                                        \
    launch_binary<math::OP>(a, b, out, plan, bp.numel); \
    break;
    FLEXCONV_FOR_EACH_BINARY_OP(FLEXCONV_CASE)
#undef FLEXCONV_CASE
    default:
      bad_op("binary", op);
  }
  check_last_launch("binary");
}

void fill(float* out, std::int64_t n, float value) {
  if (n == 0) return;
  fill_kernel<<<grid_blocks(n), kThreads>>>(out, n, value);
  check_last_launch("fill");
}

void add_in_place(float* out, const float* x, std::int64_t n) {
  if (n == 0) return;
  add_in_place_kernel<<<grid_blocks(n), kThreads>>>(out, x, n);
  check_last_launch("addInPlace");
}

}  // namespace cuda
}  // namespace flexconv
