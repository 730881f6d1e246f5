// Launch helpers shared by every CUDA kernel file: the block size, grid sizes for grid-stride
// loops and for one-thread-per-item kernels, the grid-stride loop itself, and a scoped device
// scratch buffer.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/runtime.h"

namespace flexconv {
namespace cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items (FLEXCONV_GRID_STRIDE): at least one, capped so
// huge tensors still launch (the loop covers the rest).
inline unsigned grid_blocks(std::int64_t n) {
  const std::int64_t b = (n + kThreads - 1) / kThreads;
  constexpr std::int64_t kMaxBlocks = 65535 * 8;
  return static_cast<unsigned>(b < 1 ? 1 : (b > kMaxBlocks ? kMaxBlocks : b));
}

// Blocks for a kernel that gives each of n items its own thread (no loop): not capped.
inline unsigned blocks_for(std::int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

#define FLEXCONV_GRID_STRIDE(i, n)                                                                 \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(blockDim.x) * gridDim.x)

// Device scratch memory freed on scope exit (also when a launch check throws); none for 0 floats.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::int64_t floats)
      : ptr_(floats > 0 ? static_cast<float*>(device_malloc(static_cast<std::size_t>(floats) * sizeof(float)))
                        : nullptr) {}
  ~DeviceBuffer() { device_free(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  float* get() const { return ptr_; }

 private:
  float* ptr_;
};

}  // namespace cuda
}  // namespace flexconv
