// CUDA losses: one thread per position (cross-entropy) or element, with the
// formulas of math/softmax.h and math/pointwise.h that the CPU kernels use.
#include <cuda_runtime.h>

#include "ops/loss.h"
#include "cuda/launch.cuh"
#include "cuda/runtime.h"
#include "math/pointwise.h"
#include "math/softmax.h"

namespace flexconv {
namespace cuda {
namespace {

__global__ void ce_forward_kernel(const float* logits, const float* target, std::int64_t N, std::int64_t C,
                                  std::int64_t S, std::int64_t ignore, float eps, float* loss, float* stats) {
  FLEXCONV_GRID_STRIDE(pos, N * S) {
    const float* x = logits + (pos / S) * C * S + pos % S;
    float m, logz;
    math::row_max_logz(x, C, S, &m, &logz);
    stats[2 * pos] = m;
    stats[2 * pos + 1] = logz;
    const std::int64_t t = static_cast<std::int64_t>(target[pos]);
    loss[pos] = t == ignore ? 0.0f : math::row_cross_entropy(x, C, S, t, m, logz, eps);
  }
}

__global__ void ce_backward_kernel(const float* logits, const float* target, const float* stats, const float* weight,
                                   bool per_position, float scale, std::int64_t N, std::int64_t C, std::int64_t S,
                                   std::int64_t ignore, float eps, float* grad) {
  const float inv_c = 1.0f / static_cast<float>(C);
  FLEXCONV_GRID_STRIDE(i, N * C * S) {
    const std::int64_t s = i % S, n = i / (C * S), c = (i / S) % C;
    const std::int64_t pos = n * S + s;
    const std::int64_t t = static_cast<std::int64_t>(target[pos]);
    const float w = t == ignore ? 0.0f : (per_position ? weight[pos] : weight[0]) * scale;
    grad[i] = w * math::cross_entropy_grad(logits[i], stats[2 * pos], stats[2 * pos + 1], t == c, eps, inv_c);
  }
}

__global__ void bce_forward_kernel(const float* x, const float* y, const float* pw, float pw_scalar, float* out,
                                   std::int64_t n) {
  FLEXCONV_GRID_STRIDE(i, n) { out[i] = math::bce_logits_forward(x[i], y[i], pw ? pw[i] : pw_scalar); }
}

__global__ void bce_backward_kernel(const float* x, const float* y, const float* pw, float pw_scalar, const float* g,
                                    bool g_per_element, float scale, float* gx, float* gy, std::int64_t n) {
  FLEXCONV_GRID_STRIDE(i, n) {
    const float gi = (g_per_element ? g[i] : g[0]) * scale;
    const float w = pw ? pw[i] : pw_scalar;
    if (gx) gx[i] = gi * math::bce_logits_grad_x(x[i], y[i], w);
    if (gy) gy[i] = gi * math::bce_logits_grad_y(x[i], y[i], w);
  }
}

}  // namespace

void cross_entropy_forward(const float* logits, const float* target, std::int64_t N, std::int64_t C, std::int64_t S,
                           std::int64_t ignore_index, float smoothing, float* loss, float* stats) {
  if (N * S == 0 || C == 0) return;
  ce_forward_kernel<<<grid_blocks(N * S), kThreads>>>(logits, target, N, C, S, ignore_index, smoothing, loss, stats);
  check_last_launch("crossEntropy");
}

void cross_entropy_backward(const float* logits, const float* target, const float* stats, const float* weight,
                            bool weight_per_position, float scale, std::int64_t N, std::int64_t C, std::int64_t S,
                            std::int64_t ignore_index, float smoothing, float* grad) {
  if (N * C * S == 0) return;
  ce_backward_kernel<<<grid_blocks(N * C * S), kThreads>>>(logits, target, stats, weight, weight_per_position, scale, N,
                                                           C, S, ignore_index, smoothing, grad);
  check_last_launch("crossEntropyBackward");
}

void bce_logits_forward(const float* x, const float* y, const float* pw, float pw_scalar, float* out, std::int64_t n) {
  if (n == 0) return;
  bce_forward_kernel<<<grid_blocks(n), kThreads>>>(x, y, pw, pw_scalar, out, n);
  check_last_launch("bceWithLogits");
}

void bce_logits_backward(const float* x, const float* y, const float* pw, float pw_scalar, const float* g,
                         bool g_per_element, float scale, float* gx, float* gy, std::int64_t n) {
  if (n == 0) return;
  bce_backward_kernel<<<grid_blocks(n), kThreads>>>(x, y, pw, pw_scalar, g, g_per_element, scale, gx, gy, n);
  check_last_launch("bceWithLogitsBackward");
}

}  // namespace cuda
}  // namespace flexconv
