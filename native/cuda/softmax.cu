// CUDA softmax: one thread per (outer, inner) row, using the row formula of math/softmax.h.
// Neighbouring threads read neighbouring inner positions, so reads coalesce when inner > 1
// (the segmentation case).
#include <cuda_runtime.h>

#include "cuda/launch.cuh"
#include "cuda/runtime.h"
#include "ops/softmax.h"
#include "math/softmax.h"

namespace flexconv {
namespace cuda {
namespace {

__global__ void softmax_kernel(const float* x, float* y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                               bool log) {
  const std::int64_t rows = outer * inner;
  FLEXCONV_GRID_STRIDE(r, rows) {
    const std::int64_t base = (r / inner) * n * inner + r % inner;
    float m, logz;
    math::row_max_logz(x + base, n, inner, &m, &logz);
    for (std::int64_t k = 0; k < n; ++k) {
      const float v = (x[base + k * inner] - m) - logz;
      y[base + k * inner] = log ? v : expf(v);
    }
  }
}

__global__ void softmax_backward_kernel(const float* y, const float* g, float* gx, std::int64_t outer, std::int64_t n,
                                        std::int64_t inner, bool log) {
  const std::int64_t rows = outer * inner;
  FLEXCONV_GRID_STRIDE(r, rows) {
    const std::int64_t base = (r / inner) * n * inner + r % inner;
    float dot = 0.0f;
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t i = base + k * inner;
      dot += log ? g[i] : g[i] * y[i];
    }
    for (std::int64_t k = 0; k < n; ++k) {
      const std::int64_t i = base + k * inner;
      gx[i] = log ? g[i] - expf(y[i]) * dot : y[i] * (g[i] - dot);
    }
  }
}

}  // namespace

void softmax_forward(const float* x, float* y, std::int64_t outer, std::int64_t n, std::int64_t inner, bool log) {
  if (outer * inner == 0 || n == 0) return;
  softmax_kernel<<<grid_blocks(outer * inner), kThreads>>>(x, y, outer, n, inner, log);
  check_last_launch("softmax");
}

void softmax_backward(const float* y, const float* g, float* gx, std::int64_t outer, std::int64_t n, std::int64_t inner,
                      bool log) {
  if (outer * inner == 0 || n == 0) return;
  softmax_backward_kernel<<<grid_blocks(outer * inner), kThreads>>>(y, g, gx, outer, n, inner, log);
  check_last_launch("softmaxBackward");
}

}  // namespace cuda
}  // namespace flexconv
