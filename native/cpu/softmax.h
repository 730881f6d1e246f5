// softmax / log_softmax along one dimension of a contiguous tensor viewed as [outer, n, inner].
#pragma once
#include <cstdint>

namespace flexconv {
namespace cpu {

void softmax_forward(const float* x, float* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool log);
// softmax: gx = y (g - sum_k g_k y_k); log_softmax: gx = g - exp(y) sum_k g_k.
void softmax_backward(const float* y, const float* g, float* gx, std::int64_t outer, std::int64_t n,
                      std::int64_t inner, bool log);

}  // namespace cpu
}  // namespace flexconv
