// Small helpers shared by the two halves of dynamic convolution on the CPU (the per-sample
// convolutions in dynamic_conv2d.cc, the kernel-gradient reduction in dynamic_conv2d_reduce.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/alloc.h"
#include "core/thread_pool.h"

namespace flexconv {
namespace cpu {

// One scratch buffer of `floats` per thread.
class PerThread {
 public:
  explicit PerThread(std::int64_t floats) {
    const int threads = num_threads();
    for (int t = 0; t < threads; ++t) buffers_.emplace_back(static_cast<std::size_t>(floats));
  }
  float* operator[](int thread) { return buffers_[static_cast<std::size_t>(thread)].data(); }

 private:
  std::vector<AlignedBuffer<float>> buffers_;
};

// Whether every value is finite (inf and NaN reach other outputs through Winograd's
// transforms than through the direct sum, see cpu/conv2d_winograd.h).
inline bool all_finite(const float* x, std::int64_t n) {
  float sum = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) sum += x[i] * 0.0f;  // NaN iff some x[i] is inf or NaN
  return sum == 0.0f;
}

}  // namespace cpu
}  // namespace flexconv
