// The unary loops (forward and gradient) over a range of elements, compiled once per
// instruction set (core/isa.h); elementwise.cc picks the copy for this CPU. Each op is a
// template instantiation of a plain loop the compiler vectorises; the op switch runs once per
// range, outside the loop.

#include "core/no_trapping_math.h"  // first: it changes how the loops below compile
#include <cstdint>

#include "cpu/elementwise_unary.h"
#include "math/pointwise.h"

FLEXCONV_ISA_BEGIN
namespace {

template <int Op>
void unary_loop(const float* __restrict x, float* __restrict y, std::int64_t begin, std::int64_t end, float a,
                float b) {
  for (std::int64_t i = begin; i < end; ++i) y[i] = math::unary_forward<Op>(x[i], a, b);
}

// Four specialisations of the gradient loop so that each one reads only what it needs
// (no null checks inside the loop).
template <int Op>
void unary_backward_loop(const float* __restrict g, const float* __restrict x, const float* __restrict y,
                         float* __restrict gx, std::int64_t begin, std::int64_t end, float a, float b) {
  if (x && y) {
    for (std::int64_t i = begin; i < end; ++i) gx[i] = math::unary_backward<Op>(g[i], x[i], y[i], a, b);
  } else if (x) {
    for (std::int64_t i = begin; i < end; ++i) gx[i] = math::unary_backward<Op>(g[i], x[i], 0.0f, a, b);
  } else if (y) {
    for (std::int64_t i = begin; i < end; ++i) gx[i] = math::unary_backward<Op>(g[i], 0.0f, y[i], a, b);
  } else {
    for (std::int64_t i = begin; i < end; ++i) gx[i] = math::unary_backward<Op>(g[i], 0.0f, 0.0f, a, b);
  }
}

// pow's loop with the exponent's case chosen once (math::pow_scalar_exponent's cases, each a
// loop that vectorises; a test per element kept it scalar).
void pow_loop(const float* __restrict x, float* __restrict y, std::int64_t begin, std::int64_t end, float a) {
  const auto run = [&](auto f) {
    for (std::int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
  };
  if (a == 2.0f) return run([](float v) { return math::pow_scalar_exponent(v, 2.0f); });
  if (a == 3.0f) return run([](float v) { return math::pow_scalar_exponent(v, 3.0f); });
  if (a == 0.5f) return run([](float v) { return math::pow_scalar_exponent(v, 0.5f); });
  if (a == -0.5f) return run([](float v) { return math::pow_scalar_exponent(v, -0.5f); });
  if (a == -1.0f) return run([](float v) { return math::pow_scalar_exponent(v, -1.0f); });
  if (a == -2.0f) return run([](float v) { return math::pow_scalar_exponent(v, -2.0f); });
  unary_loop<math::kPow>(x, y, begin, end, a, 0.0f);
}

}  // namespace

// Op codes are validated by the caller (elementwise.cc) before any range runs.
void unary_range(int op, const float* x, float* y, std::int64_t begin, std::int64_t end, float a, float b) {
  if (op == math::kPow) {
    pow_loop(x, y, begin, end, a);
    return;
  }
  switch (op) {
#define FLEXCONV_CASE(OP)                         \
  case math::OP:                                  \
    unary_loop<math::OP>(x, y, begin, end, a, b); \
    break;
    FLEXCONV_FOR_EACH_UNARY_OP(FLEXCONV_CASE)
#undef FLEXCONV_CASE
    default:
      break;
  }
}

void unary_backward_range(int op, const float* g, const float* x, const float* y, float* gx, std::int64_t begin,
                          std::int64_t end, float a, float b) {
  switch (op) {
#define FLEXCONV_CASE(OP)                                         \
  case math::OP:                                                  \
    unary_backward_loop<math::OP>(g, x, y, gx, begin, end, a, b); \
    break;
    FLEXCONV_FOR_EACH_UNARY_OP(FLEXCONV_CASE)
#undef FLEXCONV_CASE
    default:
      break;
  }
}

FLEXCONV_ISA_END
