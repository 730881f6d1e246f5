// Elementwise kernels on contiguous float32 CPU memory: unary ops and their gradients,
// broadcasting binary ops, fill. Op codes: math/pointwise.h.
#pragma once
#include <cstdint>

#include "core/broadcast.h"

namespace flexconv {
namespace cpu {

// Below this many elements a loop runs on the calling thread: waking the pool costs more
// than the work.
constexpr std::int64_t kParallelGrain = 1 << 15;

void unary(int op, const float* x, float* y, std::int64_t n, float a, float b);
// gx = dL/dx from g = dL/dy, x and y (either may be null if the op's formula does not use it).
void unary_backward(int op, const float* g, const float* x, const float* y, float* gx, std::int64_t n, float a,
                    float b);
void binary(int op, const float* a, const float* b, float* out, const BroadcastPlan& plan);
void fill(float* out, std::int64_t n, float value);
// out += x (same length).
void add_in_place(float* out, const float* x, std::int64_t n);

}  // namespace cpu
}  // namespace flexconv
