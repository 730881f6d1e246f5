// softmax / log_softmax along one dimension of a contiguous tensor viewed as [outer, n, inner]:
// the contract both backends implement (cpu/softmax.cc, cuda/softmax.cu).
#pragma once
#include <cstdint>

namespace flexconv {

// softmax_backward: softmax: gx = y (g - sum_k g_k y_k); log_softmax: gx = g - exp(y) sum_k g_k.
#define FLEXCONV_SOFTMAX_ENTRY_POINTS                                                                               \
  void softmax_forward(const float* x, float* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool log); \
  void softmax_backward(const float* y, const float* g, float* gx, std::int64_t outer, std::int64_t n,              \
                        std::int64_t inner, bool log);

namespace cpu {
FLEXCONV_SOFTMAX_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_SOFTMAX_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_SOFTMAX_ENTRY_POINTS

}  // namespace flexconv
