// Launch helpers shared by the spatial kernels (batch norm, pooling, interpolate,
// grid_sample): a 1-D grid-stride loop over n items, grid size capped so huge tensors
// still launch.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace flexconv {
namespace cuda {

constexpr int kSpatialThreads = 256;

inline unsigned spatial_blocks(std::int64_t n) {
  std::int64_t b = (n + kSpatialThreads - 1) / kSpatialThreads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b > 65535 * 32 ? 65535 * 32 : b);
}

#define FLEXCONV_GRID_STRIDE(i, n)                                                                \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(blockDim.x) * gridDim.x)

}  // namespace cuda
}  // namespace flexconv
