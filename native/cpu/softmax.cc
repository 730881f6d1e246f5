// softmax / log_softmax. Work is split into (outer index, chunk of up to kChunk inner
// positions); each pass over k then runs a contiguous inner loop the compiler vectorises
// (for inner == 1, the classification case, a chunk is one row). The loops themselves are
// compiled per instruction set (cpu/row_ops_isa.cc: softmax_chunk, softmax_row).

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
  const auto chunk = FLEXCONV_PICK_ISA(softmax_chunk);
  for_each_chunk(outer, n, inner, [&](std::int64_t o, std::int64_t i0, std::int64_t len) {
    const std::int64_t base = o * n * inner + i0;
    chunk(x + base, y + base, n, inner, len, log);
  });
}

void softmax_backward(const float* y, const float* g, float* gx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      bool log) {
  if (n == 0) return;
  if (inner == 1) return softmax_rows_backward(y, g, gx, outer, n, log);
  const auto chunk = FLEXCONV_PICK_ISA(softmax_chunk_backward);
  for_each_chunk(outer, n, inner, [&](std::int64_t o, std::int64_t i0, std::int64_t len) {
    const std::int64_t base = o * n * inner + i0;
    chunk(y + base, g + base, gx + base, n, inner, len, log);
  });
}

}  // namespace cpu
}  // namespace flexconv
