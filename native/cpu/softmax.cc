// softmax / log_softmax. Work is split into (outer index, chunk of up to kChunk inner
// positions); each pass over k then runs a contiguous inner loop the compiler vectorises
// (for inner == 1, the classification case, a chunk is one row). The maximum is subtracted
// before exp, so any finite logits are safe; sums are kept in double.

#include "core/no_trapping_math.h"  // first: it changes how the loops below compile
#include "ops/softmax.h"

#include <cmath>

#include "core/thread_pool.h"
#include "cpu/elementwise.h"
#include "cpu/row_ops.h"
#include "math/pointwise.h"

namespace flexconv {
namespace cpu {
namespace {

using rows::for_each_chunk;
using rows::kChunk;

// inner == 1: each row is contiguous; whole rows per thread.
void softmax_rows(const float* x, float* y, std::int64_t rows_count, std::int64_t n, bool log) {
  const auto row = FLEXCONV_PICK_ISA(softmax_row);
  rows::for_each_row(rows_count, n, [&](std::int64_t r) { row(x + r * n, y + r * n, n, log); });
}

void softmax_rows_backward(const float* y, const float* g, float* gx, std::int64_t rows_count, std::int64_t n,
                           bool log) {
  const auto row = FLEXCONV_PICK_ISA(softmax_row_backward);
  rows::for_each_row(rows_count, n, [&](std::int64_t r) { row(y + r * n, g + r * n, gx + r * n, n, log); });
}

}  // namespace

void softmax_forward(const float* x, float* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool log) {
  if (n == 0) return;
  if (inner == 1) return softmax_rows(x, y, outer, n, log);
  for_each_chunk(outer, n, inner, [&](std::int64_t o, std::int64_t i0, std::int64_t len) {
    const std::int64_t base = o * n * inner + i0;
    float m[kChunk];
    double s[kChunk];
    for (std::int64_t i = 0; i < len; ++i) {
      m[i] = -INFINITY;
      s[i] = 0.0;
    }
    for (std::int64_t k = 0; k < n; ++k) {
      const float* row = x + base + k * inner;
      for (std::int64_t i = 0; i < len; ++i) m[i] = row[i] > m[i] ? row[i] : m[i];
    }
    for (std::int64_t k = 0; k < n; ++k) {
      const float* row = x + base + k * inner;
      float* out = y + base + k * inner;
      for (std::int64_t i = 0; i < len; ++i) {
        const float e = math::vexpf(row[i] - m[i]);
        s[i] += e;
        if (!log) out[i] = e;
      }
    }
    if (log) {
      // (x - m) - log s: exact for the largest entries even when the logits are huge.
      float logs[kChunk];
      for (std::int64_t i = 0; i < len; ++i) logs[i] = static_cast<float>(std::log(s[i]));
      for (std::int64_t k = 0; k < n; ++k) {
        const float* row = x + base + k * inner;
        float* out = y + base + k * inner;
        for (std::int64_t i = 0; i < len; ++i) out[i] = (row[i] - m[i]) - logs[i];
      }
    } else {
      float inv[kChunk];
      for (std::int64_t i = 0; i < len; ++i) inv[i] = static_cast<float>(1.0 / s[i]);
      for (std::int64_t k = 0; k < n; ++k) {
        float* out = y + base + k * inner;
        for (std::int64_t i = 0; i < len; ++i) out[i] *= inv[i];
      }
    }
  });
}

void softmax_backward(const float* y, const float* g, float* gx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      bool log) {
  if (n == 0) return;
  if (inner == 1) return softmax_rows_backward(y, g, gx, outer, n, log);
  for_each_chunk(outer, n, inner, [&](std::int64_t o, std::int64_t i0, std::int64_t len) {
    const std::int64_t base = o * n * inner + i0;
    double dot[kChunk];
    for (std::int64_t i = 0; i < len; ++i) dot[i] = 0.0;
    for (std::int64_t k = 0; k < n; ++k) {
      const float* yr = y + base + k * inner;
      const float* gr = g + base + k * inner;
      if (log) {
        for (std::int64_t i = 0; i < len; ++i) dot[i] += gr[i];
      } else {
        for (std::int64_t i = 0; i < len; ++i) dot[i] += static_cast<double>(gr[i]) * yr[i];
      }
    }
    float d[kChunk];
    for (std::int64_t i = 0; i < len; ++i) d[i] = static_cast<float>(dot[i]);
    for (std::int64_t k = 0; k < n; ++k) {
      const float* yr = y + base + k * inner;
      const float* gr = g + base + k * inner;
      float* out = gx + base + k * inner;
      if (log) {
        for (std::int64_t i = 0; i < len; ++i) out[i] = gr[i] - math::vexpf(yr[i]) * d[i];
      } else {
        for (std::int64_t i = 0; i < len; ++i) out[i] = yr[i] * (gr[i] - d[i]);
      }
    }
  });
}

}  // namespace cpu
}  // namespace flexconv
