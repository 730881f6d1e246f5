// Fused losses. Cross-entropy works per (n, chunk of spatial positions), so the
// segmentation case [N, C, H, W] reads each class plane contiguously; nothing is
// materialised besides the per-position loss and log-sum-exp (saved for the backward).

#include "core/no_trapping_math.h"  // first: it changes how the loops below compile
#include "ops/loss.h"
#include "cpu/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/elementwise.h"
#include "cpu/row_ops.h"
#include "math/pointwise.h"
#include "math/softmax.h"

namespace flexconv {
namespace cpu {

using rows::for_each_chunk;

void cross_entropy_forward(const float* logits, const float* target, std::int64_t N, std::int64_t C, std::int64_t S,
                           std::int64_t ignore_index, float smoothing, float* loss, float* stats) {
  if (C == 0) return;
  if (S == 1) {
    // Classification: each sample's logits are one contiguous row.
    const auto row = FLEXCONV_PICK_ISA(cross_entropy_row);
    rows::for_each_row(N, C, [&](std::int64_t n) {
      row(logits + n * C, C, static_cast<std::int64_t>(target[n]), ignore_index, smoothing, &stats[2 * n],
          &stats[2 * n + 1], &loss[n]);
    });
    return;
  }
  const auto chunk = FLEXCONV_PICK_ISA(cross_entropy_chunk);
  for_each_chunk(N, C, S, [&](std::int64_t n, std::int64_t s0, std::int64_t len) {
    const std::int64_t pos = n * S + s0;
    chunk(logits + n * C * S + s0, target + pos, C, S, len, ignore_index, smoothing, loss + pos, stats + 2 * pos);
  });
}

void cross_entropy_backward(const float* logits, const float* target, const float* stats, const float* weight,
                            bool weight_per_position, float scale, std::int64_t N, std::int64_t C, std::int64_t S,
                            std::int64_t ignore_index, float smoothing, float* grad) {
  if (C == 0) return;
  if (S == 1) {
    const auto row = FLEXCONV_PICK_ISA(cross_entropy_row_backward);
    rows::for_each_row(N, C, [&](std::int64_t n) {
      const std::int64_t t = static_cast<std::int64_t>(target[n]);
      const float w = t == ignore_index ? 0.0f : (weight_per_position ? weight[n] : weight[0]) * scale;
      row(logits + n * C, grad + n * C, C, t, ignore_index, w, stats[2 * n], stats[2 * n + 1], smoothing);
    });
    return;
  }
  const auto chunk = FLEXCONV_PICK_ISA(cross_entropy_chunk_backward);
  for_each_chunk(N, C, S, [&](std::int64_t n, std::int64_t s0, std::int64_t len) {
    const std::int64_t pos = n * S + s0;
    chunk(logits + n * C * S + s0, target + pos, stats + 2 * pos, weight_per_position ? weight + pos : weight,
          weight_per_position, scale, C, S, len, ignore_index, smoothing, grad + n * C * S + s0);
  });
}

// (The per-element choices, a weight array or one weight, the gradients wanted, run outside the
// loops: a test per element kept them scalar, and the formulas then cost more than libm's.)
void bce_logits_forward(const float* x, const float* y, const float* pw, float pw_scalar, float* out, std::int64_t n) {
  parallel_for(
      n,
      [&](std::int64_t begin, std::int64_t end) {
        if (pw) {
          for (std::int64_t i = begin; i < end; ++i) out[i] = math::bce_logits_forward(x[i], y[i], pw[i]);
        } else {
          for (std::int64_t i = begin; i < end; ++i) out[i] = math::bce_logits_forward(x[i], y[i], pw_scalar);
        }
      },
      kParallelGrain);
}

namespace {

// One gradient (Grad: bce_logits_grad_x or _y) over [begin, end): g per element or one g.
template <float (*Grad)(float, float, float)>
void bce_gradient(const float* x, const float* y, const float* pw, float pw_scalar, const float* g, bool g_per_element,
                  float scale, float* __restrict out, std::int64_t begin, std::int64_t end) {
  const float g0 = g_per_element ? 0.0f : g[0] * scale;
  if (pw && g_per_element) {
    for (std::int64_t i = begin; i < end; ++i) out[i] = g[i] * scale * Grad(x[i], y[i], pw[i]);
  } else if (pw) {
    for (std::int64_t i = begin; i < end; ++i) out[i] = g0 * Grad(x[i], y[i], pw[i]);
  } else if (g_per_element) {
    for (std::int64_t i = begin; i < end; ++i) out[i] = g[i] * scale * Grad(x[i], y[i], pw_scalar);
  } else {
    for (std::int64_t i = begin; i < end; ++i) out[i] = g0 * Grad(x[i], y[i], pw_scalar);
  }
}

}  // namespace

void bce_logits_backward(const float* x, const float* y, const float* pw, float pw_scalar, const float* g,
                         bool g_per_element, float scale, float* gx, float* gy, std::int64_t n) {
  parallel_for(
      n,
      [&](std::int64_t begin, std::int64_t end) {
        if (gx) bce_gradient<math::bce_logits_grad_x>(x, y, pw, pw_scalar, g, g_per_element, scale, gx, begin, end);
        if (gy) bce_gradient<math::bce_logits_grad_y>(x, y, pw, pw_scalar, g, g_per_element, scale, gy, begin, end);
      },
      kParallelGrain);
}

double squared_error_sum(const float* x, const float* y, std::int64_t n) {
  // Blocks of 4096 elements, each summed in 16 float lanes and then in double; the blocks'
  // sums added in order.
  constexpr std::int64_t kBlock = 4096, kLanes = 16;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks), 0.0);
  parallel_for(blocks, [&](std::int64_t b0, std::int64_t b1) {
    for (std::int64_t b = b0; b < b1; ++b) {
      const std::int64_t begin = b * kBlock, end = std::min(n, begin + kBlock);
      float lanes[kLanes] = {};
      std::int64_t i = begin;
      for (; i + kLanes <= end; i += kLanes) {
        for (std::int64_t l = 0; l < kLanes; ++l) {
          const float d = x[i + l] - y[i + l];
          lanes[l] += d * d;
        }
      }
      double total = 0.0;
      for (std::int64_t l = 0; l < kLanes; ++l) total += lanes[l];
      for (; i < end; ++i) {
        const float d = x[i] - y[i];
        total += static_cast<double>(d * d);
      }
      partial[static_cast<size_t>(b)] = total;
    }
  });
  double sum = 0.0;
  for (double p : partial) sum += p;
  return sum;
}

void squared_error(const float* x, const float* y, float* out, std::int64_t n) {
  parallel_for(
      n,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          const float d = x[i] - y[i];
          out[i] = d * d;
        }
      },
      kParallelGrain);
}

void squared_error_backward(const float* x, const float* y, const float* g, bool g_per_element, float scale, float* gx,
                            float* gy, std::int64_t n) {
  const float g0 = g_per_element ? 0.0f : 2.0f * g[0] * scale;
  parallel_for(
      n,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          const float d = (x[i] - y[i]) * (g_per_element ? 2.0f * g[i] * scale : g0);
          if (gx) gx[i] = d;
          if (gy) gy[i] = -d;
        }
      },
      kParallelGrain);
}

}  // namespace cpu
}  // namespace flexconv
