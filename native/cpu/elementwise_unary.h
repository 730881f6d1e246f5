// The unary loops of elementwise.cc, compiled once per instruction set (cpu/elementwise_unary_isa.cc,
// core/isa.h). Op codes: math/pointwise.h, validated by the caller.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

#define FLEXCONV_ELEMENTWISE_UNARY_API                                                                             \
  void unary_range(int op, const float* x, float* y, std::int64_t begin, std::int64_t end, float a, float b);      \
  void unary_backward_range(int op, const float* g, const float* x, const float* y, float* gx, std::int64_t begin, \
                            std::int64_t end, float a, float b);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_ELEMENTWISE_UNARY_API)
#undef FLEXCONV_ELEMENTWISE_UNARY_API

}  // namespace cpu
}  // namespace flexconv
