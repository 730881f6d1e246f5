// CUDA softmax behind the same interface as cpu/softmax.h (device pointers).
#pragma once
#include <cstdint>

namespace flexconv {
namespace cuda {

void softmax_forward(const float* x, float* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool log);
void softmax_backward(const float* y, const float* g, float* gx, std::int64_t outer, std::int64_t n,
                      std::int64_t inner, bool log);

}  // namespace cuda
}  // namespace flexconv
