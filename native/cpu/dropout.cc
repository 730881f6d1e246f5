// Dropout on the CPU: threads split the elements; every element's mask is a function of
// (seed, index) only, so results do not depend on the thread count.
#include "ops/dropout.h"

#include "core/thread_pool.h"
#include "cpu/elementwise.h"
#include "math/pointwise.h"

namespace flexconv {
namespace cpu {

void dropout_forward(const float* x, float* out, float* mask, std::int64_t n, float p, std::uint64_t seed) {
  const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  parallel_for(
      n,
      [=](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          // Multiply by the comparison instead of selecting: no branch on a random bit.
          const float keep = static_cast<float>(math::uniform_from_counter(seed, static_cast<std::uint64_t>(i)) >= p);
          const float m = keep * keep_scale;
          mask[i] = m;
          out[i] = x[i] * m;
        }
      },
      kParallelGrain);
}

}  // namespace cpu
}  // namespace flexconv
