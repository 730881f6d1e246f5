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
#include "cpu/dynamic_conv2d_reduce.h"
#include "cpu/dynamic_conv2d_support.h"
#include "cpu/gemm/gemm.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

// Samples are taken in groups of two or four (b, b + 1, ...): their kernels are mixed in one
// pass over the experts (see mix_samples), which then come from memory once per group.
constexpr int kMaxGroup = 4;
// Four samples per group where their four mixed kernels take at most this many floats (1.5 MB:
// they are read back from L2 and L3 by the samples' GEMMs), else two. Measured against pairs:
// B64 64 -> 128 8x8 -> 4x4 stride-2 forward 0.80-0.91x the time (four mixed kernels of 295 KB),
// B128 64 -> 64 8x8 (mixed point by point) 0.90-0.94x; B32 64 -> 64 32x32 by F(4x4, 3x3) (590
// KB per sample) 1.24x, so pairs there.
constexpr std::int64_t kGroupOfFourFloats = 384 * 1024;
int group_size(std::int64_t mixed_floats_per_sample) {
  return kMaxGroup * mixed_floats_per_sample <= kGroupOfFourFloats ? kMaxGroup : 2;
}

// Runs fn(b, count, thread) for the groups of samples [b, b + count) covering [0, n) (count
// `group`, the last one possibly fewer). Threads take whole groups when there are enough of
// them to share evenly (every GEMM inside then runs single-threaded, inline); otherwise groups
// run one after another and the GEMM core threads over tiles. Either way every sample is
// computed by the same arithmetic, so neither choice changes the bits. `thread` only selects
// scratch space.
void for_each_group(std::int64_t n, int group, const std::function<void(std::int64_t, int, int)>& fn) {
  const int threads = in_parallel_region() ? 1 : num_threads();
  const std::int64_t groups = (n + group - 1) / group;
  auto run = [&](std::int64_t t, int thread) {
    const std::int64_t b = t * group;
    fn(b, static_cast<int>(std::min<std::int64_t>(group, n - b)), thread);
  };
  if (threads > 1 && (groups >= 4 * threads || (groups >= threads && groups % threads == 0))) {
    parallel_tasks(groups, run);
  } else {
    for (std::int64_t t = 0; t < groups; ++t) run(t, 0);
  }
}

// w[s][0, n) = sum_k attention[b + s, k] * parts[k][0, n) for the `count` samples b, b + 1, ...
// in a fixed order. Done right before their convolutions, so the mixed kernels are still in
// cache when the GEMMs read them (a batched mixing GEMM would write and re-read B * D floats);
// the samples of a group read the parts once for all of them. The parts are the experts, or the same floats
// flipped or packed.
void mix_samples(std::int64_t b, int count, std::int64_t K, std::int64_t n, const float* attention,
                 const float* const* parts, float* const* w) {
  // Blocks of the kernels small enough to stay in L1 while all K experts are added in.
  constexpr std::int64_t kBlock = 1024;
  const auto mix = FLEXCONV_PICK_ISA(dynamic_mix);
  for (std::int64_t d0 = 0; d0 < n; d0 += kBlock) {
    float* out[kMaxGroup];
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
    std::int64_t floats = 0;
    for (std::int64_t i = 0; i < n_; ++i) {
      for (std::int64_t k = 0; k < K_; ++k) parts_.push_back(packed_[static_cast<size_t>(k)][i].data());
      floats += packed_.front()[static_cast<size_t>(i)].size();
    }
    group_ = group_size(floats);
    for (int t = 0; t < num_threads() * group_; ++t) {
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

  // Each expert's 16 (F4x4: 36) Winograd matrices (cpu/conv2d_winograd.h) for the 3x3 convs of
  // g; null when an expert is not finite (such kernels keep the direct convolution).
  static std::unique_ptr<PackedExperts> winograd_of(const Conv2dGeometry& g, std::int64_t K, const float* experts,
                                                    WinogradTile tile) {
    const std::int64_t D = g.out_channels * g.in_channels * 9;
    std::vector<std::vector<gemm::PackedA>> per_expert;
    for (std::int64_t k = 0; k < K; ++k) {
      per_expert.push_back(winograd_pack_weights(experts + k * D, g.out_channels, g.in_channels, tile));
      if (per_expert.back().empty()) return nullptr;
    }
    auto packed = std::make_unique<PackedExperts>(std::move(per_expert));
    packed->tile_ = tile;
    return packed;
  }

  // The tiling of winograd_of's matrices.
  WinogradTile tile() const { return tile_; }
  // Samples per group (for_each_group): mixed together, each with its own buffers.
  int group() const { return group_; }

  // The kernels of samples [b, b + count) (count <= group()) in `thread`'s buffers: one packed
  // matrix per slice each; sample b + s's start at mixed(thread, s).
  void mix(std::int64_t b, int count, const float* attention, int thread) {
    for (std::int64_t i = 0; i < n_; ++i) {
      float* out[kMaxGroup];
      for (int s = 0; s < count; ++s) out[s] = mixed(thread, s)[i].data();
      mix_samples(b, count, K_, mixed(thread, 0)[i].size(), attention, &parts_[static_cast<size_t>(i * K_)], out);
    }
  }
  gemm::PackedA* mixed(int thread, int s) { return &mixed_[static_cast<size_t>((thread * group_ + s) * n_)]; }

  // Matrix i alone of the kernels of samples [b, b + count), into each sample's first buffer,
  // mixed(thread, s)[0] (all matrices have one shape; reusing one buffer keeps it in L1).
  void mix_matrix(std::int64_t b, int count, const float* attention, int thread, std::int64_t i) {
    float* out[kMaxGroup];
    for (int s = 0; s < count; ++s) out[s] = mixed(thread, s)[0].data();
    mix_samples(b, count, K_, mixed(thread, 0)[0].size(), attention, &parts_[static_cast<size_t>(i * K_)], out);
  }

 private:
  std::int64_t K_, n_;
  std::vector<std::vector<gemm::PackedA>> packed_;  // [k][i]
  std::vector<const float*> parts_;                 // [i * K + k]: the floats of packed_[k][i]
  std::vector<gemm::PackedA> mixed_;                // [(thread * group_ + s) * n + i]
  WinogradTile tile_ = WinogradTile::F2x2;
  int group_ = 2;
};

// The A operands of conv2d_forward_packed: each group's Og x Kdim rows of the weight.
std::vector<Conv2dWeightSlice> forward_slices(const Conv2dGeometry& g) {
  const std::int64_t Og = g.out_channels / g.groups;
  const std::int64_t Kdim = (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
  std::vector<Conv2dWeightSlice> slices;
  for (std::int64_t gi = 0; gi < g.groups; ++gi) slices.push_back({Og, Kdim, gi * Og * Kdim, Kdim});
  return slices;
}

// The experts as Winograd matrices when the per-sample convs `one` of the batch conv g (or the
// convs of the stride-1 input gradient) run by Winograd: the policy of a plain conv of g's shape
// whose weights are transformed per call, with finite experts and attention. Mixing the 16 O C
// transformed floats instead of 9 O C costs K of the conv's T multiply-adds per tile row (T tiles
// per sample), which the 2.25x fewer GEMM multiply-adds repay from 16 tiles (8x8 maps) on.
// F(4x4, 3x3) where the plain conv takes it and each sample has kDynamic4MinTiles of its tiles:
// its 36 mixed matrices per sample are repaid by long GEMMs only (at 8x8, 4 tiles per sample, a
// B128 64-channel forward+backward took 1.7x the F(2x2, 3x3) time).
constexpr std::int64_t kDynamic4MinTiles = 64;
std::unique_ptr<PackedExperts> winograd_experts(const Conv2dGeometry& g, const Conv2dGeometry& one, std::int64_t K,
                                                const float* experts, const float* attention) {
  if (!winograd_forward_applies(one) || !winograd_per_call_applies(g)) return nullptr;
  if (!all_finite(attention, g.batch * K)) return nullptr;
  const bool f4 = winograd4_per_call_applies(g) && ((one.out_h + 3) / 4) * ((one.out_w + 3) / 4) >= kDynamic4MinTiles;
  return PackedExperts::winograd_of(one, K, experts, f4 ? WinogradTile::F4x4 : WinogradTile::F2x2);
}

// Samples per group of a call: those of the experts it mixes (Winograd or packed), or pairs
// when each sample mixes its own kernel (no buffers to size).
int group_of(const PackedExperts* winograd, const PackedExperts* packed) {
  return winograd ? winograd->group() : packed ? packed->group() : 2;
}

// Where the Winograd convs of a group run point by point (winograd_by_point): an image that
// fits one chunk, and the group on one thread (a task of for_each_group, or a single thread);
// otherwise winograd_forward splits one image's steps over the threads.
bool by_point_applies(const Conv2dGeometry& one, WinogradTile tile) {
  return winograd_image_applies(one, tile) && (num_threads() == 1 || in_parallel_region());
}

// The Winograd convs of samples [b, b + count) point by point (cpu/conv2d_winograd.h,
// WinogradImage): each image's V, then per point xi the samples' matrices of xi mixed in one
// pass over the experts' (into L1) and multiplied at once, then the outputs. Sample s reads
// src + (b + s) * src_image and writes dst + (b + s) * dst_image, with bias + s * O (bias may be
// null). done[s] is false where its source holds inf or NaN: the caller takes the direct path.
struct ImageSpan {
  const float* src;
  std::int64_t src_image;
  float* dst;
  std::int64_t dst_image;
};
void winograd_by_point(PackedExperts& experts, const WinogradImage& image, std::int64_t b, int count,
                       const float* attention, int thread, float* scratch, const ImageSpan& io, const float* bias,
                       std::int64_t O, bool* done) {
  const std::int64_t v_floats = static_cast<std::int64_t>(image.v_floats());
  const std::int64_t m_floats = static_cast<std::int64_t>(image.m_floats());
  float* v[kMaxGroup];
  float* m[kMaxGroup];
  bool any = false;
  for (int s = 0; s < count; ++s) {
    v[s] = scratch + s * (v_floats + m_floats);
    m[s] = v[s] + v_floats;
    done[s] = image.transform_input(io.src + (b + s) * io.src_image, v[s]);
    any |= done[s];
  }
  if (!any) return;
  for (int xi = 0; xi < image.points(); ++xi) {
    experts.mix_matrix(b, count, attention, thread, xi);
    for (int s = 0; s < count; ++s) {
      if (done[s]) image.multiply(xi, experts.mixed(thread, s)[0], v[s], m[s]);
    }
  }
  for (int s = 0; s < count; ++s) {
    if (done[s]) image.transform_output(m[s], bias ? bias + s * O : nullptr, io.dst + (b + s) * io.dst_image);
  }
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
  std::unique_ptr<WinogradImage> image;
  if (winograd && winograd_image_applies(one, winograd->tile())) {
    image = std::make_unique<WinogradImage>(one, winograd->mixed(0, 0)[0], winograd->tile());
  }
  const int group = group_of(winograd.get(), packed.get());
  PerThread W(packed ? 0 : D), bias(expert_bias ? group * O : 0);
  PerThread scratch(image ? group * static_cast<std::int64_t>(image->v_floats() + image->m_floats()) : 0);
  for_each_group(B, group, [&](std::int64_t b0, int count, int thread) {
    float* biases = expert_bias ? bias[thread] : nullptr;
    for (int s = 0; s < count && expert_bias; ++s) mix_one(b0 + s, K, O, attention, bias_rows.data(), biases + s * O);
    bool done[kMaxGroup] = {};
    const bool by_point = image && by_point_applies(one, winograd->tile());
    if (by_point) {
      winograd_by_point(*winograd, *image, b0, count, attention, thread, scratch[thread],
                        {input, in_image, out, out_image}, biases, O, done);
    } else if (winograd) {
      winograd->mix(b0, count, attention, thread);
    }
    if (packed) packed->mix(b0, count, attention, thread);
    for (int s = 0; s < count; ++s) {
      const std::int64_t b = b0 + s;
      float* bb = expert_bias ? biases + s * O : nullptr;
      if (done[s]) continue;
      if (winograd && !by_point &&
          winograd_forward(one, winograd->mixed(thread, s), input + b * in_image, bb, out + b * out_image, {},
                           winograd->tile())) {
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
  if (grad_expert_bias) std::fill(grad_expert_bias, grad_expert_bias + K * O, 0.0f);
  if (grad_attention) std::fill(grad_attention, grad_attention + B * K, 0.0f);
  if (B == 0 || O == 0) {
    // (Otherwise the reduction below writes every float of grad_experts.)
    if (grad_experts) std::fill(grad_experts, grad_experts + K * D, 0.0f);
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
  // Per sample: the input gradient, and the bias gradient gB[b] = the sums of grad_out's planes.
  AlignedBuffer<float> gB(want_b ? static_cast<size_t>(B * O) : 0);
  // input_done: by winograd_by_point; by_point: the group went that way (winograd's buffers
  // then do not hold the mixed kernels).
  auto per_sample = [&](std::int64_t b, int slot, int thread, bool input_done, bool by_point) {
    const float* go = grad_out + b * out_image;
    const gemm::PackedA* mixed = packed ? packed->mixed(thread, slot) : nullptr;
    if (input_done) {
      // done
    } else if (grad_input && winograd && !by_point &&
               winograd_forward(t_one, winograd->mixed(thread, slot), go, nullptr, grad_input + b * in_image, {},
                                winograd->tile())) {
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
    if (want_b) {
      for (std::int64_t o = 0; o < O; ++o) {
        const float* row = go + o * P;
        double total = 0.0;
        for (std::int64_t p = 0; p < P; ++p) total += row[p];
        gB[static_cast<size_t>(b * O + o)] = static_cast<float>(total);
      }
    }
  };
  std::unique_ptr<WinogradImage> image;
  if (winograd && winograd_image_applies(t_one, winograd->tile())) {
    image = std::make_unique<WinogradImage>(t_one, winograd->mixed(0, 0)[0], winograd->tile());
  }
  const int group = group_of(winograd.get(), packed.get());
  PerThread scratch(image ? group * static_cast<std::int64_t>(image->v_floats() + image->m_floats()) : 0);
  if (grad_input || want_b) {
    for_each_group(B, group, [&](std::int64_t p0, int count, int thread) {
      bool done[kMaxGroup] = {};
      const bool by_point = image && by_point_applies(t_one, winograd->tile());
      if (by_point) {
        winograd_by_point(*winograd, *image, p0, count, attention, thread, scratch[thread],
                          {grad_out, out_image, grad_input, in_image}, nullptr, 0, done);
      } else if (grad_input && winograd) {
        winograd->mix(p0, count, attention, thread);
      }
      if (grad_input && packed) packed->mix(p0, count, attention, thread);
      for (int i = 0; i < count; ++i) per_sample(p0 + i, i, thread, done[i], by_point);
    });
  }
  if (want_w) dynamic_kernel_gradients(g, K, grad_out, input, experts, attention, grad_experts, grad_attention);
  if (grad_expert_bias) gemm::sgemm(true, false, K, O, B, 1.0f, attention, K, gB.data(), O, 1.0f, grad_expert_bias, O);
  if (grad_attention && expert_bias) {
    gemm::sgemm(false, true, B, K, O, 1.0f, gB.data(), O, expert_bias, O, 1.0f, grad_attention, K);
  }
}

}  // namespace cpu
}  // namespace flexconv
