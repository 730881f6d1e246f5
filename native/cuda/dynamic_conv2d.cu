// CUDA dynamic convolution: the CPU plan (cpu/dynamic_conv2d.h) on the GPU, simple and correct
// rather than tuned. The per-sample kernels are mixed by one CUDA GEMM (cuda/gemm.h); each
// sample then runs CUDA conv2d (cuda/conv2d.h: im2col + GEMM, gather col2im, no atomics) on a
// batch-of-one geometry. Backward forms the per-sample weight and bias gradients and reduces
// them into the expert and attention gradients with GEMMs, as on the CPU. Deterministic.
#include <algorithm>

#include "core/errors.h"
#include "ops/conv2d.h"
#include "ops/dynamic_conv2d.h"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"
#include "cuda/runtime.h"

namespace flexconv {
namespace cuda {
namespace {

using math::Conv2dGeometry;
using std::int64_t;

// Chunks of samples bound the scratch memory, as on the CPU.
constexpr int64_t kChunkFloats = int64_t{8} << 20;

int64_t per_expert(const Conv2dGeometry& g) {
  return g.out_channels * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
}

int64_t samples_per_chunk(int64_t batch, int64_t per_sample) {
  return std::max<int64_t>(1, std::min(batch, kChunkFloats / std::max<int64_t>(per_sample, 1)));
}

// out[s, :] = sum_k attention[b0 + s, k] * experts[k, :] for s in [0, n).
void mix(int64_t b0, int64_t n, int64_t K, int64_t D, const float* attention, const float* experts, float* out) {
  sgemm_strided_batched(false, false, n, D, K, 1.0f, attention + b0 * K, K, 0, experts, D, 0, 0.0f, out, D, 0, 1);
}

}  // namespace

void dynamic_conv2d_forward(const Conv2dGeometry& g, int64_t K, const float* input, const float* experts,
                            const float* attention, const float* expert_bias, float* out) {
  FLEXCONV_CHECK(K >= 1, ErrorCode::InvalidArgument, "dynamicConv2d: expected at least one expert");
  const int64_t B = g.batch, O = g.out_channels, D = per_expert(g);
  if (B == 0 || O == 0) return;
  const int64_t in_image = g.in_channels * g.in_h * g.in_w, out_image = O * g.out_h * g.out_w;
  Conv2dGeometry one = g;
  one.batch = 1;
  const int64_t chunk = samples_per_chunk(B, D);
  DeviceBuffer W(chunk * D);
  DeviceBuffer bias(expert_bias ? chunk * O : 0);
  for (int64_t b0 = 0; b0 < B; b0 += chunk) {
    const int64_t n = std::min(chunk, B - b0);
    mix(b0, n, K, D, attention, experts, W.get());
    if (expert_bias) mix(b0, n, K, O, attention, expert_bias, bias.get());
    for (int64_t s = 0; s < n; ++s) {
      conv2d_forward(one, input + (b0 + s) * in_image, W.get() + s * D, expert_bias ? bias.get() + s * O : nullptr,
                     out + (b0 + s) * out_image);
    }
  }
}

void dynamic_conv2d_backward(const Conv2dGeometry& g, int64_t K, const float* grad_out, const float* input,
                             const float* experts, const float* attention, const float* expert_bias, float* grad_input,
                             float* grad_experts, float* grad_attention, float* grad_expert_bias) {
  FLEXCONV_CHECK(K >= 1, ErrorCode::InvalidArgument, "dynamicConv2d: expected at least one expert");
  if (!expert_bias) grad_expert_bias = nullptr;
  const int64_t B = g.batch, O = g.out_channels, D = per_expert(g);
  const int64_t P = g.out_h * g.out_w;
  const int64_t in_image = g.in_channels * g.in_h * g.in_w, out_image = O * P;
  if (grad_experts) fill(grad_experts, 0.0f, static_cast<size_t>(K * D));
  if (grad_expert_bias) fill(grad_expert_bias, 0.0f, static_cast<size_t>(K * O));
  if (grad_attention) fill(grad_attention, 0.0f, static_cast<size_t>(B * K));
  if (B == 0) return;
  if (O == 0) {
    if (grad_input) fill(grad_input, 0.0f, static_cast<size_t>(B * in_image));
    return;
  }
  const bool want_w = grad_experts || grad_attention;
  const bool want_b = expert_bias && (grad_attention || grad_expert_bias);
  Conv2dGeometry one = g;
  one.batch = 1;
  const int64_t chunk = samples_per_chunk(B, D);
  DeviceBuffer W(grad_input ? chunk * D : 0);
  DeviceBuffer gW(want_w ? chunk * D : 0);
  DeviceBuffer gB(want_b ? chunk * O : 0);
  for (int64_t b0 = 0; b0 < B; b0 += chunk) {
    const int64_t n = std::min(chunk, B - b0);
    if (grad_input) mix(b0, n, K, D, attention, experts, W.get());
    for (int64_t s = 0; s < n; ++s) {
      const int64_t b = b0 + s;
      const float* go = grad_out + b * out_image;
      if (grad_input) conv2d_backward_input(one, go, W.get() + s * D, grad_input + b * in_image);
      if (want_w) conv2d_backward_weight(one, go, input + b * in_image, gW.get() + s * D);
      if (want_b) channel_sums(1, O, P, go, gB.get() + s * O);
    }
    const float* a = attention + b0 * K;
    if (grad_experts) {
      sgemm_strided_batched(true, false, K, D, n, 1.0f, a, K, 0, gW.get(), D, 0, 1.0f, grad_experts, D, 0, 1);
    }
    if (grad_expert_bias) {
      sgemm_strided_batched(true, false, K, O, n, 1.0f, a, K, 0, gB.get(), O, 0, 1.0f, grad_expert_bias, O, 0, 1);
    }
    if (grad_attention) {
      float* ga = grad_attention + b0 * K;
      sgemm_strided_batched(false, true, n, K, D, 1.0f, gW.get(), D, 0, experts, D, 0, 0.0f, ga, K, 0, 1);
      if (expert_bias) {
        sgemm_strided_batched(false, true, n, K, O, 1.0f, gB.get(), O, 0, expert_bias, O, 0, 1.0f, ga, K, 0, 1);
      }
    }
  }
}

}  // namespace cuda
}  // namespace flexconv
