// The unary loops of elementwise.cc compiled for AVX512 (this file name gives it those flags
// in CMakeLists.txt); called only after run-time detection.

// See elementwise.cc: lets GCC if-convert the formulas' comparisons and vectorise.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cstdint>

#include "cpu/elementwise_unary.h"
#include "math/pointwise.h"

namespace flexconv {
namespace cpu {
namespace {
#include "cpu/elementwise_unary_body.h"
}  // namespace

void unary_range_avx512(int op, const float* x, float* y, std::int64_t begin, std::int64_t end, float a, float b) {
  unary_range_any(op, x, y, begin, end, a, b);
}

void unary_backward_range_avx512(int op, const float* g, const float* x, const float* y, float* gx,
                               std::int64_t begin, std::int64_t end, float a, float b) {
  unary_backward_range_any(op, g, x, y, gx, begin, end, a, b);
}

}  // namespace cpu
}  // namespace flexconv
