// Elementwise CPU loops. Each op is a template instantiation of a plain loop the compiler
// vectorises; the op switch runs once per call, outside the loop. Threads split the
// elements into contiguous ranges only above kParallelGrain, so small tensors never pay the
// pool's wake-up cost; every element is written by exactly one thread (deterministic).

#include "core/no_trapping_math.h"  // first: it changes how the loops below compile
#include "cpu/elementwise.h"

#include "core/cpu_features.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "cpu/elementwise_unary.h"
#include "math/pointwise.h"

namespace flexconv {
namespace cpu {
namespace {

template <int Op>
void binary_row(const float* __restrict a, std::int64_t sa, const float* __restrict b, std::int64_t sb,
                float* __restrict out, std::int64_t len) {
  // The three stride patterns a merged innermost dimension can have, each its own loop so
  // it vectorises (sa, sb are 0 or 1 after merging).
  if (sa == 1 && sb == 1) {
    for (std::int64_t i = 0; i < len; ++i) out[i] = math::binary_forward<Op>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
    for (std::int64_t i = 0; i < len; ++i) out[i] = math::binary_forward<Op>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
    for (std::int64_t i = 0; i < len; ++i) out[i] = math::binary_forward<Op>(av, b[i]);
  } else {
    for (std::int64_t i = 0; i < len; ++i) out[i] = math::binary_forward<Op>(a[i * sa], b[i * sb]);
  }
}

template <int Op>
void binary_loop(const float* a, const float* b, float* out, const BroadcastPlan& plan) {
  const int nd = static_cast<int>(plan.shape.size());
  const std::int64_t len = plan.shape[nd - 1];
  const std::int64_t sa = plan.stride_a[nd - 1], sb = plan.stride_b[nd - 1];
  const std::int64_t rows = plan.numel / (len ? len : 1);
  if (plan.numel == 0) return;
  if (rows == 1) {
    // One (merged) row: split it into element ranges.
    parallel_for(
        len,
        [&](std::int64_t begin, std::int64_t end) {
          binary_row<Op>(a + begin * sa, sa, b + begin * sb, sb, out + begin, end - begin);
        },
        kParallelGrain);
    return;
  }
  const std::int64_t grain = len >= kParallelGrain ? 1 : kParallelGrain / len;
  parallel_for(
      rows,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) {
          // Offsets of row r: decompose r over the outer dimensions.
          std::int64_t rest = r, oa = 0, ob = 0;
          for (int d = nd - 2; d >= 0; --d) {
            const std::int64_t i = rest % plan.shape[d];
            rest /= plan.shape[d];
            oa += i * plan.stride_a[d];
            ob += i * plan.stride_b[d];
          }
          binary_row<Op>(a + oa, sa, b + ob, sb, out + r * len, len);
        }
      },
      grain);
}

[[noreturn]] void bad_op(const char* fn, int op) {
  throw Error(ErrorCode::InvalidArgument, std::string(fn) + ": unknown op code " + std::to_string(op));
}

// Ops of a compare or a multiply-add per element, bound by memory bandwidth: a parallel region
// pays for them only from twice the grain. relu on 48K and 64K floats (split at 32K) measured
// 0.79x and 0.86x at 2 threads against 1; from 96K, 1.8x.
bool cheap_unary(int op) {
  switch (op) {
    case math::kNeg:
    case math::kRelu:
    case math::kLeakyRelu:
    case math::kAffine:
    case math::kClamp:
    case math::kAbs:
      return true;
    default:
      return false;
  }
}

}  // namespace

void unary(int op, const float* x, float* y, std::int64_t n, float a, float b) {
  if (op < 0 || op >= math::kUnaryCount) bad_op("unary", op);
  const auto range = FLEXCONV_PICK_ISA(unary_range);
  parallel_for(
      n, [&](std::int64_t begin, std::int64_t end) { range(op, x, y, begin, end, a, b); },
      cheap_unary(op) ? 2 * kParallelGrain : kParallelGrain);
}

void unary_backward(int op, const float* g, const float* x, const float* y, float* gx, std::int64_t n, float a,
                    float b) {
  if (op < 0 || op >= math::kUnaryCount) bad_op("unaryBackward", op);
  const auto range = FLEXCONV_PICK_ISA(unary_backward_range);
  parallel_for(
      n, [&](std::int64_t begin, std::int64_t end) { range(op, g, x, y, gx, begin, end, a, b); }, kParallelGrain);
}

void binary(int op, const float* a, const float* b, float* out, const BroadcastPlan& plan) {
  switch (op) {
#define FLEXCONV_CASE(OP) \
  case math::OP:          \
    return binary_loop<math::OP>(a, b, out, plan);
    FLEXCONV_FOR_EACH_BINARY_OP(FLEXCONV_CASE)
#undef FLEXCONV_CASE
  }
  bad_op("binary", op);
}

void fill(float* out, std::int64_t n, float value) {
  parallel_for(
      n,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) out[i] = value;
      },
      kParallelGrain);
}

void add_in_place(float* out, const float* x, std::int64_t n) {
  parallel_for(
      n,
      [&](std::int64_t begin, std::int64_t end) {
        float* __restrict o = out;
        const float* __restrict v = x;
        for (std::int64_t i = begin; i < end; ++i) o[i] += v[i];
      },
      kParallelGrain);
}

}  // namespace cpu
}  // namespace flexconv
