// NumPy broadcasting, reduced to the few numbers a kernel loops over: the output shape with
// adjacent dimensions merged wherever both operands stay contiguous across them, and each
// operand's element stride per merged dimension (0 where it is broadcast). A [8, 64, 32, 32]
// + [1, 64, 1, 1] add becomes 3 dimensions; a same-shape add becomes 1.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/tensor_view.h"

namespace flexconv {

struct BroadcastPlan {
  std::vector<std::int64_t> shape;     // merged output dimensions (at least one)
  std::vector<std::int64_t> stride_a;  // element strides of a, 0 on broadcast dimensions
  std::vector<std::int64_t> stride_b;
  std::int64_t numel = 1;
};

// The broadcast shape of a and b, or a ShapeMismatch error naming `fn` and both shapes.
inline std::vector<std::int64_t> broadcast_shape(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b,
                                                 const char* fn) {
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  std::vector<std::int64_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i + a.size() >= n ? a[i + a.size() - n] : 1;
    const std::int64_t db = i + b.size() >= n ? b[i + b.size() - n] : 1;
    if (da != db && da != 1 && db != 1) {
      throw Error(ErrorCode::ShapeMismatch, std::string(fn) + ": shapes " + shape_to_string(a) + " and " +
                                                shape_to_string(b) + " cannot be broadcast together");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Strides of `operand` (row-major, contiguous) inside `out`, right-aligned; 0 where broadcast.
inline std::vector<std::int64_t> broadcast_strides(const std::vector<std::int64_t>& operand,
                                                   const std::vector<std::int64_t>& out) {
  std::vector<std::int64_t> strides(out.size(), 0);
  std::int64_t s = 1;
  for (std::size_t k = 0; k < operand.size(); ++k) {
    const std::size_t i = operand.size() - 1 - k;
    const std::size_t o = out.size() - 1 - k;
    strides[o] = operand[i] == 1 ? 0 : s;
    s *= operand[i];
  }
  return strides;
}

inline BroadcastPlan plan_broadcast(const std::vector<std::int64_t>& out, const std::vector<std::int64_t>& a,
                                    const std::vector<std::int64_t>& b) {
  std::vector<std::int64_t> sa = broadcast_strides(a, out), sb = broadcast_strides(b, out);
  BroadcastPlan plan;
  for (std::size_t i = 0; i < out.size(); ++i) {
    plan.numel *= out[i];
    if (out[i] == 1) continue;  // size-1 dimensions never move the offsets
    if (!plan.shape.empty()) {
      const std::int64_t inner = plan.shape.back();
      // Merge with the previous dimension if both operands step through it as one.
      if (plan.stride_a.back() == sa[i] * inner && plan.stride_b.back() == sb[i] * inner) {
        plan.shape.back() *= out[i];
        plan.stride_a.back() = sa[i];
        plan.stride_b.back() = sb[i];
        continue;
      }
    }
    plan.shape.push_back(out[i]);
    plan.stride_a.push_back(sa[i]);
    plan.stride_b.push_back(sb[i]);
  }
  if (plan.shape.empty()) {
    plan.shape = {1};
    plan.stride_a = {0};
    plan.stride_b = {0};
  }
  return plan;
}

}  // namespace flexconv
