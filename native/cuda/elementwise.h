// CUDA elementwise kernels behind the same interface as cpu/elementwise.h (device pointers).
#pragma once
#include <cstdint>

#include "core/broadcast.h"

namespace flexconv {
namespace cuda {

void unary(int op, const float* x, float* y, std::int64_t n, float a, float b);
void unary_backward(int op, const float* g, const float* x, const float* y, float* gx, std::int64_t n, float a,
                    float b);
void binary(int op, const float* a, const float* b, float* out, const BroadcastPlan& plan);
void fill(float* out, std::int64_t n, float value);
void add_in_place(float* out, const float* x, std::int64_t n);

}  // namespace cuda
}  // namespace flexconv
