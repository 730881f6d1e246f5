// Softmax and cross-entropy along one dimension of a tensor viewed as [outer, n, inner]: the
// work split for inner > 1 (segmentation maps), and the row kernels for inner == 1
// (classification), compiled once per instruction set (cpu/row_ops_isa.cc, core/isa.h).
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "core/thread_pool.h"
#include "cpu/elementwise.h"
#include "math/pointwise.h"

namespace flexconv {
namespace cpu {
namespace rows {

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

// fn(r) for every row r in [0, count) of rows of n contiguous values, whole rows per thread
// (each row written by one thread only).
template <typename Fn>
void for_each_row(std::int64_t count, std::int64_t n, Fn fn) {
  const std::int64_t grain = n >= kParallelGrain ? 1 : kParallelGrain / (n > 0 ? n : 1);
  parallel_for(
      count,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) fn(r);
      },
      grain);
}

}  // namespace rows

// Row kernels for n contiguous values (x, y, g, gx: one row each).
// softmax_row: y = softmax(x), or log_softmax with `log`.
// softmax_row_backward: gx from the output y and its gradient g (log: y is log_softmax).
// cross_entropy_row: the row's maximum m and log-sum-exp logz (shifted by m) for the backward,
//   and its loss for class t with label smoothing (0 when t == ignore).
// cross_entropy_row_backward: out = w * (softmax(x) - (1 - eps) [c == t] - eps / n), from m and
//   logz (nothing subtracted for t == ignore).
// softmax_chunk / softmax_chunk_backward, cross_entropy_chunk / cross_entropy_chunk_backward: the
//   same for len (<= kChunk) consecutive positions of a dimension with others inside it
//   (segmentation maps: every pointer at the chunk's first position, a position's n or C values
//   `inner` or S apart; weight per position or weight[0]), sums per position in double.
#define FLEXCONV_ROW_OPS_ISA_API                                                                                   \
  void softmax_row(const float* x, float* y, std::int64_t n, bool log);                                            \
  void softmax_chunk(const float* x, float* y, std::int64_t n, std::int64_t inner, std::int64_t len, bool log);    \
  void softmax_chunk_backward(const float* y, const float* g, float* gx, std::int64_t n, std::int64_t inner,       \
                              std::int64_t len, bool log);                                                         \
  void cross_entropy_chunk(const float* x, const float* target, std::int64_t C, std::int64_t S, std::int64_t len,  \
                           std::int64_t ignore, float smoothing, float* loss, float* stats);                       \
  void cross_entropy_chunk_backward(const float* x, const float* target, const float* stats, const float* weight,  \
                                    bool weight_per_position, float scale, std::int64_t C, std::int64_t S,         \
                                    std::int64_t len, std::int64_t ignore, float smoothing, float* grad);          \
  void softmax_row_backward(const float* y, const float* g, float* gx, std::int64_t n, bool log);                  \
  void cross_entropy_row(const float* x, std::int64_t n, std::int64_t t, std::int64_t ignore, float smoothing,     \
                         float* m, float* logz, float* loss);                                                      \
  void cross_entropy_row_backward(const float* x, float* out, std::int64_t n, std::int64_t t, std::int64_t ignore, \
                                  float w, float m, float logz, float smoothing);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_ROW_OPS_ISA_API)
#undef FLEXCONV_ROW_OPS_ISA_API

}  // namespace cpu
}  // namespace flexconv
