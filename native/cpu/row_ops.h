// Helpers for softmax and cross-entropy along one dimension of a tensor viewed as
// [outer, n, inner]: contiguous-row reductions for inner == 1 (classification), and the
// work split for inner > 1 (segmentation maps). Sums use 16 independent float lanes so the compiler
// vectorises them without reassociating (no -ffast-math), and the lanes are added in double.
// Include after the no-trapping-math pragma (see elementwise.cc) so vexpf vectorises.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/thread_pool.h"
#include "cpu/elementwise.h"
#include "math/pointwise.h"

namespace flexconv {
namespace cpu {
namespace rows {

constexpr int kLanes = 16;

// Positions handled together when inner > 1: a pass over the n values then runs a contiguous
// inner loop of up to kChunk positions (vectorised), with per-position state on the stack.
constexpr std::int64_t kChunk = 64;

// fn(o, i0, len) for every outer index o and chunk [i0, i0 + len) of inner positions, split
// across threads (each (o, chunk) is written by one thread only).
template <typename Fn>
void for_each_chunk(std::int64_t outer, std::int64_t n, std::int64_t inner, Fn fn) {
  const std::int64_t chunks = (inner + kChunk - 1) / kChunk;
  const std::int64_t work = n * (inner < kChunk ? inner : kChunk);
  const std::int64_t grain = work >= kParallelGrain ? 1 : kParallelGrain / (work > 0 ? work : 1);
  parallel_for(
      outer * chunks,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t t = begin; t < end; ++t) {
          const std::int64_t o = t / chunks, i0 = (t % chunks) * kChunk;
          fn(o, i0, inner - i0 < kChunk ? inner - i0 : kChunk);
        }
      },
      grain);
}

inline float max(const float* __restrict x, std::int64_t n) {
  float lanes[kLanes];
  for (int l = 0; l < kLanes; ++l) lanes[l] = -INFINITY;
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] = x[i + l] > lanes[l] ? x[i + l] : lanes[l];
  }
  float m = -INFINITY;
  for (int l = 0; l < kLanes; ++l) m = lanes[l] > m ? lanes[l] : m;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

// sum_i exp(x_i - m); also stores the exponentials in `out` when it is not null.
inline double exp_sum(const float* __restrict x, std::int64_t n, float m, float* __restrict out) {
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  if (out) {
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const float e = math::vexpf(x[i + l] - m);
        out[i + l] = e;
        lanes[l] += e;
      }
    }
  } else {
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] += math::vexpf(x[i + l] - m);
    }
  }
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  for (; i < n; ++i) {
    const float e = math::vexpf(x[i] - m);
    if (out) out[i] = e;
    total += e;
  }
  return total;
}

// sum_i (x_i - m)
inline double shifted_sum(const float* __restrict x, std::int64_t n, float m) {
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += x[i + l] - m;
  }
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  for (; i < n; ++i) total += x[i] - m;
  return total;
}

// sum_i a_i * b_i (b may be null: then sum_i a_i)
inline double dot(const float* __restrict a, const float* __restrict b, std::int64_t n) {
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  if (b) {
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] += a[i + l] * b[i + l];
    }
  } else {
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] += a[i + l];
    }
  }
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  for (; i < n; ++i) total += b ? a[i] * b[i] : a[i];
  return total;
}

}  // namespace rows
}  // namespace cpu
}  // namespace flexconv
