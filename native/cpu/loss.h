// CPU-only extras of the losses (the shared contract is ops/loss.h).
#pragma once
#include <cstdint>

namespace flexconv {
namespace cpu {
// Squared error (mseLoss on the CPU; CUDA tensors take the composition of sub, mul and mean):
// squared_error_sum = sum over i of (x - y)^2, in blocks of fixed size whose partial sums are
// added in order (the same result at any thread count); squared_error: out = (x - y)^2;
// squared_error_backward: gx = 2 (x - y) g scale and gy = -gx (either may be null), g per element
// or g[0] if !g_per_element.
double squared_error_sum(const float* x, const float* y, std::int64_t n);
void squared_error(const float* x, const float* y, float* out, std::int64_t n);
void squared_error_backward(const float* x, const float* y, const float* g, bool g_per_element, float scale, float* gx,
                            float* gy, std::int64_t n);

}  // namespace cpu
}  // namespace flexconv
