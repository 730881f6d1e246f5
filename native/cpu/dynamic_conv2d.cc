// Dynamic convolution on the CPU. See dynamic_conv2d.h for the plan; the per-sample
// convolutions are conv2d's kernels (cpu/conv2d.h) run on a batch-of-one geometry.
#include "cpu/dynamic_conv2d.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "cpu/conv2d.h"
#include "cpu/gemm/gemm.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

// The per-sample kernel gradients of at most this many floats are held at once; larger
// batches are reduced into the expert and attention gradients in chunks of samples. The
// chunking depends only on the shapes, never on the thread count, so the reduction order is
// fixed.
constexpr std::int64_t kChunkFloats = std::int64_t{8} << 20;

std::int64_t samples_per_chunk(std::int64_t batch, std::int64_t per_sample) {
  return std::max<std::int64_t>(1, std::min(batch, kChunkFloats / std::max<std::int64_t>(per_sample, 1)));
}

// Runs fn(b, thread) for every sample in [b0, b0 + n). Threads take whole samples when there
// are enough of them to share evenly (every GEMM inside then runs single-threaded, inline);
// otherwise samples run one after another and the GEMM core threads over tiles. Either way
// every sample is computed by the same arithmetic, so the choice never changes the bits.
// `thread` only selects scratch space.
void for_each_sample(std::int64_t b0, std::int64_t n, const std::function<void(std::int64_t, int)>& fn) {
  const int threads = in_parallel_region() ? 1 : num_threads();
  if (threads > 1 && (n >= 4 * threads || (n >= threads && n % threads == 0))) {
    parallel_tasks(n, [&](std::int64_t t, int thread) { fn(b0 + t, thread); });
  } else {
    for (std::int64_t t = 0; t < n; ++t) fn(b0 + t, 0);
  }
}

// w[:] = sum_k attention[b, k] * experts[k, :] for one sample, in a fixed order. Done per
// sample right before its convolution, so the mixed kernel is still in cache when the GEMM
// packs it (a batched mixing GEMM would write and re-read B * D floats).
void mix_one(std::int64_t b, std::int64_t K, std::int64_t D, const float* attention, const float* experts, float* w) {
  // Blocks of the kernel small enough to stay in L1 while all K experts are added in.
  constexpr std::int64_t kBlock = 1024;
  const float* a = attention + b * K;
  for (std::int64_t d0 = 0; d0 < D; d0 += kBlock) {
    const std::int64_t d1 = std::min(D, d0 + kBlock);
    const float a0 = a[0];
    for (std::int64_t d = d0; d < d1; ++d) w[d] = a0 * experts[d];
    for (std::int64_t k = 1; k < K; ++k) {
      const float ak = a[k];
      const float* e = experts + k * D;
      for (std::int64_t d = d0; d < d1; ++d) w[d] += ak * e[d];
    }
  }
}

// One scratch buffer of `floats` per thread.
class PerThread {
 public:
  explicit PerThread(std::int64_t floats) {
    const int threads = num_threads();
    for (int t = 0; t < threads; ++t) buffers_.emplace_back(static_cast<size_t>(floats));
  }
  float* operator[](int thread) { return buffers_[static_cast<size_t>(thread)].data(); }

 private:
  std::vector<AlignedBuffer<float>> buffers_;
};

void check_counts(const Conv2dGeometry& g, std::int64_t K) {
  FLEXCONV_CHECK(K >= 1, ErrorCode::InvalidArgument, "dynamicConv2d: expected at least one expert");
  conv2d_check_geometry(g);
}

}  // namespace

void dynamic_conv2d_forward(const Conv2dGeometry& g, std::int64_t K, const float* input, const float* experts,
                            const float* attention, const float* expert_bias, float* out) {
  check_counts(g, K);
  const std::int64_t B = g.batch, O = g.out_channels;
  const std::int64_t D = O * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
  if (B == 0 || O == 0) return;
  const std::int64_t in_image = g.in_channels * g.in_h * g.in_w, out_image = O * g.out_h * g.out_w;
  Conv2dGeometry one = g;
  one.batch = 1;
  PerThread W(D), bias(expert_bias ? O : 0);
  for_each_sample(0, B, [&](std::int64_t b, int thread) {
    float* w = W[thread];
    float* bb = expert_bias ? bias[thread] : nullptr;
    mix_one(b, K, D, attention, experts, w);
    if (expert_bias) mix_one(b, K, O, attention, expert_bias, bb);
    conv2d_forward(one, input + b * in_image, w, bb, out + b * out_image);
  });
}

void dynamic_conv2d_backward(const Conv2dGeometry& g, std::int64_t K, const float* grad_out, const float* input,
                             const float* experts, const float* attention, const float* expert_bias,
                             float* grad_input, float* grad_experts, float* grad_attention,
                             float* grad_expert_bias) {
  check_counts(g, K);
  if (!expert_bias) grad_expert_bias = nullptr;
  const std::int64_t B = g.batch, O = g.out_channels;
  const std::int64_t D = O * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
  const std::int64_t P = g.out_h * g.out_w;
  const std::int64_t in_image = g.in_channels * g.in_h * g.in_w, out_image = O * P;
  if (grad_experts) std::fill(grad_experts, grad_experts + K * D, 0.0f);
  if (grad_expert_bias) std::fill(grad_expert_bias, grad_expert_bias + K * O, 0.0f);
  if (grad_attention) std::fill(grad_attention, grad_attention + B * K, 0.0f);
  if (B == 0) return;
  if (O == 0) {
    if (grad_input) std::fill(grad_input, grad_input + B * in_image, 0.0f);
    return;
  }
  const bool want_w = grad_experts || grad_attention;
  const bool want_b = expert_bias && (grad_attention || grad_expert_bias);
  Conv2dGeometry one = g;
  one.batch = 1;
  PerThread W(grad_input ? D : 0);
  // The chunk's per-sample kernel and bias gradients.
  const std::int64_t chunk = samples_per_chunk(B, D);
  AlignedBuffer<float> gW(want_w ? static_cast<size_t>(chunk * D) : 0);
  AlignedBuffer<float> gB(want_b ? static_cast<size_t>(chunk * O) : 0);
  for (std::int64_t b0 = 0; b0 < B; b0 += chunk) {
    const std::int64_t n = std::min(chunk, B - b0);
    for_each_sample(b0, n, [&](std::int64_t b, int thread) {
      const std::int64_t s = b - b0;
      const float* go = grad_out + b * out_image;
      if (grad_input) {
        float* w = W[thread];
        mix_one(b, K, D, attention, experts, w);
        conv2d_backward_input(one, go, w, grad_input + b * in_image);
      }
      if (want_w) conv2d_backward_weight(one, go, input + b * in_image, gW.data() + s * D);
      if (want_b) {
        for (std::int64_t o = 0; o < O; ++o) {
          const float* row = go + o * P;
          double total = 0.0;
          for (std::int64_t p = 0; p < P; ++p) total += row[p];
          gB[static_cast<size_t>(s * O + o)] = static_cast<float>(total);
        }
      }
    });
    // Reduce the chunk's per-sample gradients into the expert and attention gradients.
    const float* a = attention + b0 * K;
    if (grad_experts) gemm::sgemm(true, false, K, D, n, 1.0f, a, K, gW.data(), D, 1.0f, grad_experts, D);
    if (grad_expert_bias) gemm::sgemm(true, false, K, O, n, 1.0f, a, K, gB.data(), O, 1.0f, grad_expert_bias, O);
    if (grad_attention) {
      float* ga = grad_attention + b0 * K;
      gemm::sgemm(false, true, n, K, D, 1.0f, gW.data(), D, experts, D, 0.0f, ga, K);
      if (expert_bias) gemm::sgemm(false, true, n, K, O, 1.0f, gB.data(), O, expert_bias, O, 1.0f, ga, K);
    }
  }
}

}  // namespace cpu
}  // namespace flexconv
