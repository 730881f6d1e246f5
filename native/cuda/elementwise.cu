// CUDA elementwise kernels: grid-stride loops over the same templated formulas the CPU uses
// (math/pointwise.h). Broadcasting uses the merged plan of core/broadcast.h, passed by value.
#include <cuda_runtime.h>

#include <string>

#include "core/errors.h"
#include "cuda/elementwise.h"
#include "cuda/runtime.h"
#include "math/pointwise.h"

namespace flexconv {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxDims = 8;

unsigned blocks_for(std::int64_t n) {
  std::int64_t b = (n + kThreads - 1) / kThreads;
  if (b > 65535 * 8) b = 65535 * 8;  // grid-stride loops cover the rest
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

template <int Op>
__global__ void unary_kernel(const float* x, float* y, std::int64_t n, float a, float b) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    y[i] = math::unary_forward<Op>(x[i], a, b);
  }
}

template <int Op>
__global__ void unary_backward_kernel(const float* g, const float* x, const float* y, float* gx, std::int64_t n,
                                      float a, float b) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    gx[i] = math::unary_backward<Op>(g[i], x ? x[i] : 0.0f, y ? y[i] : 0.0f, a, b);
  }
}

struct Plan {
  int ndim;
  std::int64_t shape[kMaxDims];
  std::int64_t stride_a[kMaxDims];
  std::int64_t stride_b[kMaxDims];
};

template <int Op>
__global__ void binary_kernel(const float* a, const float* b, float* out, std::int64_t n, Plan plan) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
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
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    out[i] = value;
  }
}

__global__ void add_in_place_kernel(float* out, const float* x, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    out[i] += x[i];
  }
}

template <int Op>
void launch_unary(const float* x, float* y, std::int64_t n, float a, float b) {
  unary_kernel<Op><<<blocks_for(n), kThreads>>>(x, y, n, a, b);
}

template <int Op>
void launch_unary_backward(const float* g, const float* x, const float* y, float* gx, std::int64_t n, float a,
                           float b) {
  unary_backward_kernel<Op><<<blocks_for(n), kThreads>>>(g, x, y, gx, n, a, b);
}

template <int Op>
void launch_binary(const float* a, const float* b, float* out, const Plan& plan, std::int64_t n) {
  binary_kernel<Op><<<blocks_for(n), kThreads>>>(a, b, out, n, plan);
}

[[noreturn]] void bad_op(const char* fn, int op) {
  throw Error(ErrorCode::InvalidArgument, std::string(fn) + ": unknown op code " + std::to_string(op));
}

}  // namespace

void unary(int op, const float* x, float* y, std::int64_t n, float a, float b) {
  if (n == 0) return;
  switch (op) {
    case math::kNeg: launch_unary<math::kNeg>(x, y, n, a, b); break;
    case math::kExp: launch_unary<math::kExp>(x, y, n, a, b); break;
    case math::kLog: launch_unary<math::kLog>(x, y, n, a, b); break;
    case math::kSqrt: launch_unary<math::kSqrt>(x, y, n, a, b); break;
    case math::kRelu: launch_unary<math::kRelu>(x, y, n, a, b); break;
    case math::kLeakyRelu: launch_unary<math::kLeakyRelu>(x, y, n, a, b); break;
    case math::kSigmoid: launch_unary<math::kSigmoid>(x, y, n, a, b); break;
    case math::kTanh: launch_unary<math::kTanh>(x, y, n, a, b); break;
    case math::kSilu: launch_unary<math::kSilu>(x, y, n, a, b); break;
    case math::kAffine: launch_unary<math::kAffine>(x, y, n, a, b); break;
    case math::kPow: launch_unary<math::kPow>(x, y, n, a, b); break;
    case math::kClamp: launch_unary<math::kClamp>(x, y, n, a, b); break;
    case math::kAbs: launch_unary<math::kAbs>(x, y, n, a, b); break;
    default: bad_op("unary", op);
  }
  check_last_launch("unary");
}

void unary_backward(int op, const float* g, const float* x, const float* y, float* gx, std::int64_t n, float a,
                    float b) {
  if (n == 0) return;
  switch (op) {
    case math::kNeg: launch_unary_backward<math::kNeg>(g, x, y, gx, n, a, b); break;
    case math::kExp: launch_unary_backward<math::kExp>(g, x, y, gx, n, a, b); break;
    case math::kLog: launch_unary_backward<math::kLog>(g, x, y, gx, n, a, b); break;
    case math::kSqrt: launch_unary_backward<math::kSqrt>(g, x, y, gx, n, a, b); break;
    case math::kRelu: launch_unary_backward<math::kRelu>(g, x, y, gx, n, a, b); break;
    case math::kLeakyRelu: launch_unary_backward<math::kLeakyRelu>(g, x, y, gx, n, a, b); break;
    case math::kSigmoid: launch_unary_backward<math::kSigmoid>(g, x, y, gx, n, a, b); break;
    case math::kTanh: launch_unary_backward<math::kTanh>(g, x, y, gx, n, a, b); break;
    case math::kSilu: launch_unary_backward<math::kSilu>(g, x, y, gx, n, a, b); break;
    case math::kAffine: launch_unary_backward<math::kAffine>(g, x, y, gx, n, a, b); break;
    case math::kPow: launch_unary_backward<math::kPow>(g, x, y, gx, n, a, b); break;
    case math::kClamp: launch_unary_backward<math::kClamp>(g, x, y, gx, n, a, b); break;
    case math::kAbs: launch_unary_backward<math::kAbs>(g, x, y, gx, n, a, b); break;
    default: bad_op("unaryBackward", op);
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
    case math::kAdd: launch_binary<math::kAdd>(a, b, out, plan, bp.numel); break;
    case math::kSub: launch_binary<math::kSub>(a, b, out, plan, bp.numel); break;
    case math::kMul: launch_binary<math::kMul>(a, b, out, plan, bp.numel); break;
    case math::kDiv: launch_binary<math::kDiv>(a, b, out, plan, bp.numel); break;
    case math::kSecond: launch_binary<math::kSecond>(a, b, out, plan, bp.numel); break;
    default: bad_op("binary", op);
  }
  check_last_launch("binary");
}

void fill(float* out, std::int64_t n, float value) {
  if (n == 0) return;
  fill_kernel<<<blocks_for(n), kThreads>>>(out, n, value);
  check_last_launch("fill");
}

void add_in_place(float* out, const float* x, std::int64_t n) {
  if (n == 0) return;
  add_in_place_kernel<<<blocks_for(n), kThreads>>>(out, x, n);
  check_last_launch("addInPlace");
}

}  // namespace cuda
}  // namespace flexconv
