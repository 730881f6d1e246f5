// CUDA dropout: a grid-stride loop over the elements with the CPU's counter-based random
// numbers (math/pointwise.h), so a seed gives the same mask on both devices.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/launch.cuh"
#include "cuda/runtime.h"
#include "math/pointwise.h"
#include "ops/dropout.h"

namespace flexconv {
namespace cuda {
namespace {

__global__ void dropout_kernel(const float* x, float* out, float* mask, std::int64_t n, float p, float keep_scale,
                               std::uint64_t seed) {
  FLEXCONV_GRID_STRIDE(i, n) {
    const float m = math::uniform_from_counter(seed, static_cast<std::uint64_t>(i)) >= p ? keep_scale : 0.0f;
    mask[i] = m;
    out[i] = x[i] * m;
  }
}

}  // namespace

void dropout_forward(const float* x, float* out, float* mask, std::int64_t n, float p, std::uint64_t seed) {
  if (n == 0) return;
  const float keep_scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  dropout_kernel<<<grid_blocks(n), kThreads>>>(x, out, mask, n, p, keep_scale, seed);
  check_last_launch("dropout");
}

}  // namespace cuda
}  // namespace flexconv
