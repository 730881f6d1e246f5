// Dropout with counter-based random numbers (math/pointwise.h uniform_from_counter): element
// i's mask depends only on (seed, i), not on threads or the device. The contract both backends
// implement (cpu/dropout.cc, cuda/dropout.cu).
#pragma once
#include <cstdint>

namespace flexconv {

// dropout_forward: mask[i] = 1 / (1 - p) where uniform(seed, i) >= p, else 0; out = x * mask.
#define FLEXCONV_DROPOUT_ENTRY_POINTS \
  void dropout_forward(const float* x, float* out, float* mask, std::int64_t n, float p, std::uint64_t seed);

namespace cpu {
FLEXCONV_DROPOUT_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_DROPOUT_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_DROPOUT_ENTRY_POINTS

}  // namespace flexconv
