// Dynamic convolution on the CPU. See dynamic_conv2d.h for the plan; the per-sample
// convolutions are conv2d's kernels (cpu/conv2d.h) run on a batch-of-one geometry.
#include "cpu/dynamic_conv2d.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

#include "core/alloc.h"
#include "core/cpu_features.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "cpu/conv2d.h"
#include "cpu/conv2d_winograd.h"
#include "cpu/dynamic_conv2d_kernels.h"
#include "cpu/gemm/gemm.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

// The per-sample kernel gradients of at most this many floats (32 MB) are held at once;
// larger batches are reduced into the expert and attention gradients in chunks of samples.
// (Chunks small enough to stay in L2 or L3 measured no faster, and cost two parallel regions
// each.) The reduction adds the samples in batch order, so the chunking never changes the
// result.
constexpr std::int64_t kChunkFloats = std::int64_t{8} << 20;

std::int64_t samples_per_chunk(std::int64_t batch, std::int64_t per_sample) {
  return std::max<std::int64_t>(1, std::min(batch, kChunkFloats / std::max<std::int64_t>(per_sample, 1)));
}

// Columns of the kernel gradient reduced per task: an expert row, its gradient row and four
// samples' rows of one block (6 * 4 KB) stay in L1.
constexpr std::int64_t kReduceBlock = 1024;
// For the n samples s of a chunk, with their kernel gradients gW[s, D] and attention rows a:
//   grad_experts[k, :] += a[s, k] * gW[s, :]   (s in batch order; skipped when null)
//   dots[(block * n + s) * K + k] = <gW[s, block], experts[k, block]>
// over the fixed blocks of kReduceBlock columns. Blocks are independent (threads split them),
// and each one is computed the same way by whichever thread takes it: deterministic. One pass
// over gW instead of two thin GEMMs (M = K or N = K pads the micro-kernel's tile 4-8 fold).
void reduce_chunk(std::int64_t n, std::int64_t K, std::int64_t D, const float* a, const float* gW, const float* experts,
                  float* grad_experts, float* dots) {
  const auto reduce = FLEXCONV_PICK_ISA(dynamic_reduce);
  const std::int64_t blocks = (D + kReduceBlock - 1) / kReduceBlock;
  parallel_for(blocks, [&](std::int64_t blk0, std::int64_t blk1) {
    for (std::int64_t blk = blk0; blk < blk1; ++blk) {
      const std::int64_t d0 = blk * kReduceBlock, len = std::min(kReduceBlock, D - d0);
      reduce(n, K, len, D, a, gW + d0, experts + d0, grad_experts ? grad_experts + d0 : nullptr, dots + blk * n * K);
    }
  });
}

// Samples are taken in pairs (b, b + 1): both kernels are mixed in one pass over the experts
// (see mix_samples).
constexpr int kPair = 2;

// Runs fn(b, count, thread) for the pairs of samples [b, b + count) covering [b0, b0 + n)
// (count 2, the last one possibly 1). Threads take whole pairs when there are enough of them
// to share evenly (every GEMM inside then runs single-threaded, inline); otherwise pairs run
// one after another and the GEMM core threads over tiles. Either way every sample is computed
// by the same arithmetic, so the choice never changes the bits. `thread` only selects scratch
// space.
void for_each_pair(std::int64_t b0, std::int64_t n, const std::function<void(std::int64_t, int, int)>& fn) {
  const int threads = in_parallel_region() ? 1 : num_threads();
  const std::int64_t pairs = (n + kPair - 1) / kPair;
  auto run = [&](std::int64_t t, int thread) {
    const std::int64_t b = b0 + t * kPair;
    fn(b, static_cast<int>(std::min<std::int64_t>(kPair, b0 + n - b)), thread);
  };
  if (threads > 1 && (pairs >= 4 * threads || (pairs >= threads && pairs % threads == 0))) {
    parallel_tasks(pairs, run);
  } else {
    for (std::int64_t t = 0; t < pairs; ++t) run(t, 0);
  }
}

// w[s][0, n) = sum_k attention[b + s, k] * parts[k][0, n) for the `count` samples b, b + 1, in a
// fixed order. Done right before their convolutions, so the mixed kernels are still in cache
// when the GEMMs read them (a batched mixing GEMM would write and re-read B * D floats); two
// samples per pass read the parts once for both. The parts are the experts, or the same floats
// flipped or packed.
void mix_samples(std::int64_t b, int count, std::int64_t K, std::int64_t n, const float* attention,
                 const float* const* parts, float* const* w) {
  // Blocks of the kernels small enough to stay in L1 while all K experts are added in.
  constexpr std::int64_t kBlock = 1024;
  const auto mix = FLEXCONV_PICK_ISA(dynamic_mix);
  for (std::int64_t d0 = 0; d0 < n; d0 += kBlock) {
    float* out[kPair];
    for (int s = 0; s < count; ++s) out[s] = w[s] + d0;
    mix(count, K, std::min(kBlock, n - d0), attention + b * K, parts, d0, out);
  }
}

// One sample's mix_samples.
void mix_one(std::int64_t b, std::int64_t K, std::int64_t n, const float* attention, const float* const* parts,
             float* w) {
  mix_samples(b, 1, K, n, attention, parts, &w);
}

// Pointers to the K rows of a [K, stride] array (the parts mix_one takes).
std::vector<const float*> rows_of(const float* data, std::int64_t K, std::int64_t stride) {
  std::vector<const float*> rows;
  for (std::int64_t k = 0; k < K; ++k) rows.push_back(data + k * stride);
  return rows;
}

// Experts packed once per call as the GEMMs' A operands, and per thread the packed kernel of
// the sample it runs: packing is linear, so mixing the packed experts gives exactly the floats
// that packing the mixed kernel would, without a packing pass and a scratch allocation per
// sample. The same holds for Winograd's weight transform (also linear): the experts'
// transformed matrices, mixed, are the mixed kernel's.
class PackedExperts {
 public:
  // per_expert[k]: expert k's matrices, the same shapes for every k.
  explicit PackedExperts(std::vector<std::vector<gemm::PackedA>> per_expert)
      : K_(static_cast<std::int64_t>(per_expert.size())),
        n_(static_cast<std::int64_t>(per_expert.front().size())),
        packed_(std::move(per_expert)) {
    for (std::int64_t i = 0; i < n_; ++i) {
      for (std::int64_t k = 0; k < K_; ++k) parts_.push_back(packed_[static_cast<size_t>(k)][i].data());
    }
    for (int t = 0; t < num_threads() * kPair; ++t) {
      for (std::int64_t i = 0; i < n_; ++i) mixed_.push_back(packed_.front()[static_cast<size_t>(i)].empty_like());
    }
  }

  // Each expert k (D floats apart in `experts`) packed as the matrices `slices` of its
  // kernel (transposed: MatrixA(..., true)).
  static std::unique_ptr<PackedExperts> slices_of(std::int64_t K, std::int64_t D, const float* experts,
                                                  const std::vector<Conv2dWeightSlice>& slices, bool transposed) {
    std::vector<std::vector<gemm::PackedA>> per_expert(static_cast<size_t>(K));
    for (std::int64_t k = 0; k < K; ++k) {
      for (const Conv2dWeightSlice& sl : slices) {
        per_expert[static_cast<size_t>(k)].emplace_back(sl.rows, sl.depth,
                                                        gemm::MatrixA(experts + k * D + sl.offset, sl.ld, transposed));
      }
    }
    return std::make_unique<PackedExperts>(std::move(per_expert));
  }

  // Each expert's 16 Winograd matrices (cpu/conv2d_winograd.h) for the 3x3 convs of g; null
  // when an expert is not finite (such kernels keep the direct convolution).
  static std::unique_ptr<PackedExperts> winograd_of(const Conv2dGeometry& g, std::int64_t K, const float* experts) {
    const std::int64_t D = g.out_channels * g.in_channels * 9;
    std::vector<std::vector<gemm::PackedA>> per_expert;
    for (std::int64_t k = 0; k < K; ++k) {
      per_expert.push_back(winograd_pack_weights(experts + k * D, g.out_channels, g.in_channels));
      if (per_expert.back().empty()) return nullptr;
    }
    return std::make_unique<PackedExperts>(std::move(per_expert));
  }

  // The kernels of samples [b, b + count) (count <= kPair) in `thread`'s buffers: one packed
  // matrix per slice each; sample b + s's start at mixed(thread, s).
  void mix(std::int64_t b, int count, const float* attention, int thread) {
    for (std::int64_t i = 0; i < n_; ++i) {
      float* out[kPair];
      for (int s = 0; s < count; ++s) out[s] = mixed(thread, s)[i].data();
      mix_samples(b, count, K_, mixed(thread, 0)[i].size(), attention, &parts_[static_cast<size_t>(i * K_)], out);
    }
  }
  gemm::PackedA* mixed(int thread, int s) { return &mixed_[static_cast<size_t>((thread * kPair + s) * n_)]; }

 private:
  std::int64_t K_, n_;
  std::vector<std::vector<gemm::PackedA>> packed_;  // [k][i]
  std::vector<const float*> parts_;                 // [i * K + k]: the floats of packed_[k][i]
  std::vector<gemm::PackedA> mixed_;                // [(thread * kPair + s) * n + i]
};

// The A operands of conv2d_forward_packed: each group's Og x Kdim rows of the weight.
std::vector<Conv2dWeightSlice> forward_slices(const Conv2dGeometry& g) {
  const std::int64_t Og = g.out_channels / g.groups;
  const std::int64_t Kdim = (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
  std::vector<Conv2dWeightSlice> slices;
  for (std::int64_t gi = 0; gi < g.groups; ++gi) slices.push_back({Og, Kdim, gi * Og * Kdim, Kdim});
  return slices;
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

// Whether every value is finite (inf and NaN reach other outputs through Winograd's
// transforms than through the direct sum, see cpu/conv2d_winograd.h).
bool all_finite(const float* x, std::int64_t n) {
  float sum = 0.0f;
  for (std::int64_t i = 0; i < n; ++i) sum += x[i] * 0.0f;  // NaN iff some x[i] is inf or NaN
  return sum == 0.0f;
}

// The experts as Winograd matrices when the per-sample convs `one` of the batch conv g (or the
// convs of the stride-1 input gradient) run by Winograd: the policy of a plain conv of g's shape
// whose weights are transformed per call, with finite experts and attention. Mixing the 16 O C
// transformed floats instead of 9 O C costs K of the conv's T multiply-adds per tile row (T tiles
// per sample), which the 2.25x fewer GEMM multiply-adds repay from 16 tiles (8x8 maps) on.
std::unique_ptr<PackedExperts> winograd_experts(const Conv2dGeometry& g, const Conv2dGeometry& one, std::int64_t K,
                                                const float* experts, const float* attention) {
  if (!winograd_forward_applies(one) || !winograd_per_call_applies(g)) return nullptr;
  if (!all_finite(attention, g.batch * K)) return nullptr;
  return PackedExperts::winograd_of(one, K, experts);
}

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
  const std::vector<const float*> expert_rows = rows_of(experts, K, D);
  const std::vector<const float*> bias_rows = expert_bias ? rows_of(expert_bias, K, O) : std::vector<const float*>();
  std::unique_ptr<PackedExperts> winograd = winograd_experts(g, one, K, experts, attention);
  std::unique_ptr<PackedExperts> packed;
  if (!winograd && conv2d_forward_is_gemm(one)) {
    packed = PackedExperts::slices_of(K, D, experts, forward_slices(one), false);
  }
  PerThread W(packed ? 0 : D), bias(expert_bias ? O : 0);
  for_each_pair(0, B, [&](std::int64_t b0, int count, int thread) {
    if (winograd) winograd->mix(b0, count, attention, thread);
    if (packed) packed->mix(b0, count, attention, thread);
    for (int s = 0; s < count; ++s) {
      const std::int64_t b = b0 + s;
      float* bb = expert_bias ? bias[thread] : nullptr;
      if (expert_bias) mix_one(b, K, O, attention, bias_rows.data(), bb);
      if (winograd &&
          winograd_forward(one, winograd->mixed(thread, s), input + b * in_image, bb, out + b * out_image, {})) {
        continue;  // (false: the image holds inf or NaN and takes the direct path below)
      }
      if (packed) {
        conv2d_forward_packed(one, packed->mixed(thread, s), input + b * in_image, bb, out + b * out_image);
      } else {
        float* w = W[thread];
        mix_one(b, K, D, attention, expert_rows.data(), w);
        conv2d_forward(one, input + b * in_image, w, bb, out + b * out_image);
      }
    }
  });
}

void dynamic_conv2d_backward(const Conv2dGeometry& g, std::int64_t K, const float* grad_out, const float* input,
                             const float* experts, const float* attention, const float* expert_bias, float* grad_input,
                             float* grad_experts, float* grad_attention, float* grad_expert_bias) {
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
  // For stride 1 the input gradient is a forward conv with the flipped, transposed kernel
  // (conv2d.h). Flipping is a permutation, so the experts are flipped (and packed) once here
  // and each sample mixes them: the same floats as flipping every mixed kernel, without a
  // flip, a packing pass and their scratch allocations per sample (a tenth of a B128 8x8
  // backward).
  Conv2dGeometry t_one;
  const bool as_conv = grad_input && conv2d_backward_input_as_conv(one, &t_one);
  AlignedBuffer<float> flipped(as_conv ? static_cast<size_t>(K * D) : 0);
  std::unique_ptr<PackedExperts> winograd, packed;
  if (as_conv) {
    // All K experts in one call (one parallel region): as the weight of a conv with K times the
    // groups, expert k is groups k*groups .. (k+1)*groups - 1, and each group flips on its own.
    Conv2dGeometry all = g;
    all.groups = K * g.groups;
    all.in_channels = K * g.in_channels;
    all.out_channels = K * g.out_channels;
    conv2d_flip_weight(all, experts, flipped.data());
    Conv2dGeometry t_all = t_one;
    t_all.batch = B;
    winograd = winograd_experts(t_all, t_one, K, flipped.data(), attention);
    if (!winograd && conv2d_forward_is_gemm(t_one)) {
      packed = PackedExperts::slices_of(K, D, flipped.data(), forward_slices(t_one), false);
    }
  } else if (grad_input) {
    // Otherwise (stride 2, ...) the input gradient multiplies slices of the kernel, transposed,
    // by grad_out: packing them once per call spares every sample a transposed packing pass
    // of its mixed kernel (a fifth of a B64 64->128 8x8 -> 4x4 stride-2 input gradient).
    const std::vector<Conv2dWeightSlice> slices = conv2d_backward_input_slices(one);
    if (!slices.empty()) packed = PackedExperts::slices_of(K, D, experts, slices, true);
  }
  const std::vector<const float*> mix_rows = rows_of(as_conv ? flipped.data() : experts, K, D);
  PerThread W(grad_input && !packed ? D : 0);
  // The chunk's per-sample kernel and bias gradients.
  const std::int64_t chunk = samples_per_chunk(B, D);
  AlignedBuffer<float> gW(want_w ? static_cast<size_t>(chunk * D) : 0);
  AlignedBuffer<float> gB(want_b ? static_cast<size_t>(chunk * O) : 0);
  // The chunk's partial dot products <gW_s, expert_k> per block of columns (see reduce_chunk).
  const std::int64_t blocks = (D + kReduceBlock - 1) / kReduceBlock;
  AlignedBuffer<float> dots(want_w ? static_cast<size_t>(blocks * chunk * K) : 0);
  for (std::int64_t b0 = 0; b0 < B; b0 += chunk) {
    const std::int64_t n = std::min(chunk, B - b0);
    // Sample b's gradients; its mixed kernel for the input gradient, when packed or Winograd, is
    // `thread`'s `slot` (see PackedExperts::mix).
    auto per_sample = [&](std::int64_t b, int slot, int thread) {
      const std::int64_t s = b - b0;
      const float* go = grad_out + b * out_image;
      const gemm::PackedA* mixed = packed ? packed->mixed(thread, slot) : nullptr;
      if (grad_input && winograd &&
          winograd_forward(t_one, winograd->mixed(thread, slot), go, nullptr, grad_input + b * in_image, {})) {
        // done (false: grad_out holds inf or NaN and takes the direct path below)
      } else if (grad_input) {
        if (packed && as_conv) {
          conv2d_forward_packed(t_one, mixed, go, nullptr, grad_input + b * in_image);
        } else if (packed) {
          conv2d_backward_input_packed(one, mixed, go, grad_input + b * in_image);
        } else {
          float* w = W[thread];
          mix_one(b, K, D, attention, mix_rows.data(), w);
          if (as_conv) {
            conv2d_forward(t_one, go, w, nullptr, grad_input + b * in_image);
          } else {
            conv2d_backward_input(one, go, w, grad_input + b * in_image);
          }
        }
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
    };
    for_each_pair(b0, n, [&](std::int64_t p0, int count, int thread) {
      if (grad_input && winograd) winograd->mix(p0, count, attention, thread);
      if (grad_input && packed) packed->mix(p0, count, attention, thread);
      for (int i = 0; i < count; ++i) per_sample(p0 + i, i, thread);
    });
    // Reduce the chunk's per-sample gradients into the expert and attention gradients.
    const float* a = attention + b0 * K;
    if (want_w) reduce_chunk(n, K, D, a, gW.data(), experts, grad_experts, dots.data());
    if (grad_expert_bias) gemm::sgemm(true, false, K, O, n, 1.0f, a, K, gB.data(), O, 1.0f, grad_expert_bias, O);
    if (grad_attention) {
      float* ga = grad_attention + b0 * K;
      for (std::int64_t s = 0; s < n; ++s) {
        for (std::int64_t k = 0; k < K; ++k) {
          float total = 0.0f;
          for (std::int64_t blk = 0; blk < blocks; ++blk) total += dots[static_cast<size_t>((blk * n + s) * K + k)];
          ga[s * K + k] = total;
        }
      }
      if (expert_bias) gemm::sgemm(false, true, n, K, O, 1.0f, gB.data(), O, expert_bias, O, 1.0f, ga, K);
    }
  }
}

}  // namespace cpu
}  // namespace flexconv
