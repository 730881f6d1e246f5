// Elementwise ops on contiguous float32 memory: unary ops and their gradients, broadcasting
// binary ops, fill, in-place add. Op codes: math/pointwise.h. The contract both backends
// implement (cpu/elementwise.cc, cuda/elementwise.cu).
#pragma once
#include <cstdint>

#include "core/broadcast.h"

namespace flexconv {

// unary_backward: gx = dL/dx from g = dL/dy, x and y (either may be null if the op's formula
// does not use it). add_in_place: out += x (same length).
#define FLEXCONV_ELEMENTWISE_ENTRY_POINTS                                                                         \
  void unary(int op, const float* x, float* y, std::int64_t n, float a, float b);                                 \
  void unary_backward(int op, const float* g, const float* x, const float* y, float* gx, std::int64_t n, float a, \
                      float b);                                                                                   \
  void binary(int op, const float* a, const float* b, float* out, const BroadcastPlan& plan);                     \
  void fill(float* out, std::int64_t n, float value);                                                             \
  void add_in_place(float* out, const float* x, std::int64_t n);

namespace cpu {
FLEXCONV_ELEMENTWISE_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_ELEMENTWISE_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_ELEMENTWISE_ENTRY_POINTS

}  // namespace flexconv
