// conv2d forward / backward on the CPU. See conv2d.h for the plan; the column packers that
// feed the GEMM core live in conv2d_columns.h.
#include "cpu/conv2d.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "cpu/conv2d_columns.h"
#include "cpu/conv2d_depthwise.h"
#include "cpu/conv2d_direct.h"
#include "cpu/conv2d_kn2row.h"
#include "cpu/conv2d_winograd.h"
#include "cpu/conv_epilogue.h"
#include "cpu/gemm/gemm.h"
#include "cpu/plane_loops.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

// Below this many output pixels per image, per-image GEMMs are too narrow to keep the
// micro-kernel busy: fold the batch into N and reorder the result afterwards. From 16x16 up,
// one GEMM per image (written in place, whole images per thread) beats the folded GEMM plus
// its reordering pass (an octave conv's low band; every element is computed the same way
// either way).
constexpr std::int64_t kPerImageMinPixels = 256;
// Threads split one image's output pixels in multiples of this (a vector of floats on every
// instruction set: whole vectors per thread).
constexpr std::int64_t kColumnUnit = 16;
// Target size of one grad_input tile (rows of W^T x columns of grad_out).
constexpr std::int64_t kTileRows = 512;
constexpr std::int64_t kTileCols = 256;
// Floats of grad_out handed to one weight-gradient GEMM (its A operand, packed whole).
constexpr std::int64_t kWeightGradChunkFloats = 1 << 18;
// The weight gradient is computed as two halves of the batch (see conv2d_backward_weight) from
// this many output pixels in all, for weights of at most this many floats: the extra pass
// adding the halves is then < 2% of the GEMM's work (it is ~1/pixels of it, L2-resident).
constexpr std::int64_t kWeightGradSplitMinPixels = 2048;
constexpr std::int64_t kWeightGradSplitMaxFloats = std::int64_t(1) << 20;

bool is_depthwise(const Conv2dGeometry& g) { return g.groups == g.in_channels && g.groups > 1; }

bool is_plain_1x1(const Conv2dGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

void fill_bias(float* out, std::int64_t rows, std::int64_t plane, const float* bias) {
  for (std::int64_t r = 0; r < rows; ++r) std::fill(out + r * plane, out + (r + 1) * plane, bias ? bias[r] : 0.0f);
}

// out[rows x plane] += residual (if any), then max(0, .) if relu (NaN stays NaN, as torch.relu).
void apply_epilogue_rows(float* out, const float* residual, std::int64_t rows, std::int64_t plane, bool relu) {
  const std::int64_t n = rows * plane;
  if (residual) add_residual(out, residual, n);
  if (relu) relu_rows(out, n, 1, n);
}

// The stride-1 input gradient as a forward conv (conv2d_backward_input_as_conv in conv2d.h);
// false when that does not apply.
bool backward_input_as_conv(const Conv2dGeometry& g, const float* grad_out, const float* weight, float* grad_input) {
  Conv2dGeometry t;
  if (!conv2d_backward_input_as_conv(g, &t)) return false;
  // By Winograd (as conv2d_forward would run t with the flipped weight), the transformed flipped
  // weight is read from `weight` in place: no flipped copy (flipping took 2.6% of a ResNet-18
  // training step). Inf or NaN in either operand falls back to the flipped copy below.
  if (winograd_per_call_applies(t)) {
    const WinogradTile tile = winograd4_per_call_applies(t) ? WinogradTile::F4x4 : WinogradTile::F2x2;
    const std::vector<gemm::PackedA> u = winograd_pack_flipped_weights(weight, g.out_channels, g.in_channels, tile);
    if (!u.empty() && winograd_forward(t, u.data(), grad_out, nullptr, grad_input, {}, tile)) return true;
  }
  AlignedBuffer<float> flipped(
      static_cast<size_t>(g.out_channels * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w));
  conv2d_flip_weight(g, weight, flipped.data());
  conv2d_forward(t, grad_out, flipped.data(), nullptr, grad_input);
  return true;
}

// Input channels per grad_input tile: about kTileRows rows of W^T (all of a group's channels
// when their kernels are shorter).
std::int64_t backward_input_channels_per_task(const Conv2dGeometry& g) {
  const std::int64_t Cg = g.in_channels / g.groups, Kdim = Cg * g.kernel_h * g.kernel_w;
  const std::int64_t channel_blocks = std::max<std::int64_t>(1, (Kdim + kTileRows - 1) / kTileRows);
  return (Cg + channel_blocks - 1) / channel_blocks;
}

// grad_input planes [c0, c0 + nc) of group gi and images [b0, b0 + nb) from their tile
// (rows (c, tap), columns (image, pixel)).
void scatter_tile(const Conv2dGeometry& g, const float* tile, std::int64_t gi, std::int64_t c0, std::int64_t nc,
                  std::int64_t b0, std::int64_t nb, float* grad_input) {
  const std::int64_t P = g.out_h * g.out_w, KK = g.kernel_h * g.kernel_w, cols = nb * P;
  const std::int64_t Cg = g.in_channels / g.groups, HW = g.in_h * g.in_w;
  for (std::int64_t bl = 0; bl < nb; ++bl) {
    for (std::int64_t c = 0; c < nc; ++c) {
      float* plane = grad_input + ((b0 + bl) * g.in_channels + gi * Cg + c0 + c) * HW;
      col2im_plane(g, tile + c * KK * cols + bl * P, cols, plane);
    }
  }
}

}  // namespace

std::vector<Conv2dWeightSlice> conv2d_backward_input_slices(const Conv2dGeometry& g) {
  Conv2dGeometry t;
  const std::int64_t KK = g.kernel_h * g.kernel_w;
  const std::int64_t Og = g.out_channels / g.groups, Cg = g.in_channels / g.groups, Kdim = Cg * KK;
  std::vector<Conv2dWeightSlice> slices;
  if (is_depthwise(g) || conv2d_backward_input_as_conv(g, &t) || Og == 0 || Kdim == 0) return slices;
  const std::int64_t per_task = backward_input_channels_per_task(g);
  for (std::int64_t gi = 0; gi < g.groups; ++gi) {
    for (std::int64_t c0 = 0; c0 < Cg; c0 += per_task) {
      slices.push_back({std::min(per_task, Cg - c0) * KK, Og, gi * Og * Kdim + c0 * KK, Kdim});
    }
  }
  return slices;
}

void conv2d_backward_input_packed(const Conv2dGeometry& g, const gemm::PackedA* packed, const float* grad_out,
                                  float* grad_input) {
  const std::int64_t P = g.out_h * g.out_w, KK = g.kernel_h * g.kernel_w;
  const std::int64_t Og = g.out_channels / g.groups, Cg = g.in_channels / g.groups;
  const std::int64_t per_task = backward_input_channels_per_task(g);
  const std::int64_t cblocks = (Cg + per_task - 1) / per_task, slices = g.groups * cblocks;
  std::vector<AlignedBuffer<float>> tiles(static_cast<size_t>(num_threads()));
  // Tasks (image, slice): each owns the grad_input planes of its image and channels.
  parallel_tasks(g.batch * slices, [&](std::int64_t task, int thread) {
    const std::int64_t b = task / slices, sl = task % slices;
    const std::int64_t gi = sl / cblocks, c0 = (sl % cblocks) * per_task;
    const gemm::PackedA& a = packed[sl];
    AlignedBuffer<float>& tile = tiles[static_cast<size_t>(thread)];
    if (tile.size() < static_cast<size_t>(a.rows() * P)) tile = AlignedBuffer<float>(static_cast<size_t>(a.rows() * P));
    RowsAcrossImagesSource src(grad_out, g.out_channels * P, P, gi * Og, b, 1);
    gemm::gemm(P, 1.0f, a, src, 0.0f, tile.data(), P);
    scatter_tile(g, tile.data(), gi, c0, a.rows() / KK, b, 1, grad_input);
  });
}

bool conv2d_backward_input_as_conv(const Conv2dGeometry& g, Conv2dGeometry* t_out) {
  if (g.stride_h != 1 || g.stride_w != 1) return false;
  Conv2dGeometry t = g;
  t.in_channels = g.out_channels;
  t.in_h = g.out_h;
  t.in_w = g.out_w;
  t.out_channels = g.in_channels;
  t.out_h = g.in_h;
  t.out_w = g.in_w;
  t.pad_h = g.dil_h * (g.kernel_h - 1) - g.pad_h;
  t.pad_w = g.dil_w * (g.kernel_w - 1) - g.pad_w;
  if (t.pad_h < 0 || t.pad_w < 0) return false;
  if (math::conv_out_size(t.in_h, t.kernel_h, 1, t.pad_h, t.dil_h) != t.out_h ||
      math::conv_out_size(t.in_w, t.kernel_w, 1, t.pad_w, t.dil_w) != t.out_w) {
    return false;
  }
  *t_out = t;
  return true;
}

void conv2d_flip_weight(const Conv2dGeometry& g, const float* weight, float* flipped) {
  const std::int64_t KK = g.kernel_h * g.kernel_w;
  const std::int64_t Og = g.out_channels / g.groups, Cg = g.in_channels / g.groups;
  // A blocked transpose of the (o, c) grid of kernels: 16 x 16 tiles keep both the reads and
  // the writes within a few cache lines (the weight of a deep layer is megabytes).
  constexpr std::int64_t kTile = 16;
  const std::int64_t c_tiles = (Cg + kTile - 1) / kTile;
  parallel_for(g.groups * c_tiles, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t gi = t / c_tiles, c0 = (t % c_tiles) * kTile, c1 = std::min(Cg, c0 + kTile);
      for (std::int64_t o0 = 0; o0 < Og; o0 += kTile) {
        const std::int64_t o1 = std::min(Og, o0 + kTile);
        for (std::int64_t c = c0; c < c1; ++c) {
          for (std::int64_t o = o0; o < o1; ++o) {
            const float* src = weight + ((gi * Og + o) * Cg + c) * KK;
            float* dst = flipped + ((gi * Cg + c) * Og + o) * KK;
            for (std::int64_t r = 0; r < KK; ++r) dst[r] = src[KK - 1 - r];
          }
        }
      }
    }
  });
}

namespace {
// The epilogue as a separate pass, for the paths that do not write the output image by image
// (depthwise, kn2row, empty kernels).
void apply_epilogue(const Conv2dGeometry& g, const ConvEpilogue& ep, float* out) {
  if (!ep.residual && !ep.relu) return;
  const std::int64_t rows = g.batch * g.out_channels, P = g.out_h * g.out_w;
  parallel_for(
      rows,
      [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1; ++r)
          apply_epilogue_rows(out + r * P, ep.residual ? ep.residual + r * P : nullptr, 1, P, ep.relu);
      },
      8);
}
}  // namespace

std::unique_ptr<PackedConvWeights> conv2d_pack_weights(const float* weight, std::int64_t out_channels,
                                                       std::int64_t in_per_group, std::int64_t kernel_h,
                                                       std::int64_t kernel_w, std::int64_t groups) {
  auto p = std::make_unique<PackedConvWeights>();
  *p = PackedConvWeights{out_channels, in_per_group, kernel_h, kernel_w, groups, PackedConvWeights::Order::ChannelMajor,
                         {},           {},           {}};
  const std::int64_t Og = out_channels / groups, Kdim = in_per_group * kernel_h * kernel_w;
  for (std::int64_t gi = 0; gi < groups; ++gi) {
    p->per_group.emplace_back(Og, Kdim, gemm::MatrixA(weight + gi * Og * Kdim, Kdim, false));
  }
  if (winograd_weights_apply(out_channels, in_per_group, kernel_h, kernel_w, groups)) {
    p->winograd = winograd_pack_weights(weight, out_channels, in_per_group);
  }
  if (kn2row_weights_apply(out_channels, kernel_h, kernel_w, groups)) {
    p->kn2row = kn2row_pack_weights(weight, out_channels, in_per_group, kernel_h, kernel_w);
  }
  return p;
}

bool conv2d_packed_fits(const Conv2dGeometry& g, const PackedConvWeights& p) {
  return p.order == PackedConvWeights::Order::ChannelMajor && p.out_channels == g.out_channels &&
         p.groups == g.groups && p.in_per_group * g.groups == g.in_channels && p.kernel_h == g.kernel_h &&
         p.kernel_w == g.kernel_w && static_cast<std::int64_t>(p.per_group.size()) == g.groups;
}

void conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight, const float* bias, float* out,
                    const ConvEpilogue& ep, const PackedConvWeights* prepacked) {
  conv2d_check_geometry(g);
  if (g.batch == 0 || g.out_channels == 0) return;
  if (is_depthwise(g)) {
    depthwise_forward(g, input, weight, bias, out, ep);
    return;
  }
  const std::int64_t P = g.out_h * g.out_w;
  const std::int64_t O = g.out_channels, Og = O / g.groups, Cg = g.in_channels / g.groups;
  const std::int64_t Kdim = Cg * g.kernel_h * g.kernel_w;
  if (Kdim == 0) {
    parallel_for(g.batch, [&](std::int64_t b0, std::int64_t b1) {
      for (std::int64_t b = b0; b < b1; ++b) fill_bias(out + b * O * P, O, P, bias);
    });
    apply_epilogue(g, ep, out);
    return;
  }
  if (prepacked && !conv2d_packed_fits(g, *prepacked)) {
    throw Error(ErrorCode::ShapeMismatch, "conv2d: the prepacked weights do not fit this convolution");
  }
  if (direct_conv_applies(g)) {
    direct_conv_forward(g, input, weight, bias, out, ep);
    return;
  }
  // Packed weights hold F(2x2, 3x3) matrices only (F(4x4, 3x3)'s 36 would be 4x the weights). A
  // call with the 4x4 tiles to repay transforming them (inference at batch 32 in a ResNet's
  // first two stages) transforms `weight`, which the packed copy was made from, as training does.
  const bool per_call_f4 = winograd4_per_call_applies(g);
  if (prepacked && !per_call_f4 && !prepacked->winograd.empty() && winograd_forward_applies(g) &&
      winograd_forward(g, prepacked->winograd.data(), input, bias, out, ep)) {
    return;
  }
  if ((!prepacked || per_call_f4) && winograd_per_call_applies(g)) {
    const WinogradTile tile = winograd4_per_call_applies(g) ? WinogradTile::F4x4 : WinogradTile::F2x2;
    const std::vector<gemm::PackedA> u = winograd_pack_weights(weight, g.out_channels, g.in_channels, tile);
    if (!u.empty() && winograd_forward(g, u.data(), input, bias, out, ep, tile)) return;
  }
  if (kn2row_applies(g)) {
    kn2row_forward(g, input, weight, bias, out, prepacked && !prepacked->kn2row.empty() ? &prepacked->kn2row : nullptr);
    apply_epilogue(g, ep, out);
    return;
  }

  if (P >= kPerImageMinPixels || g.batch == 1) {
    // The weights are packed once per group and reused by every image.
    if (prepacked) {
      conv2d_forward_packed(g, prepacked->per_group.data(), input, bias, out, ep);
      return;
    }
    std::vector<gemm::PackedA> packed;
    for (std::int64_t gi = 0; gi < g.groups; ++gi) {
      packed.emplace_back(Og, Kdim, gemm::MatrixA(weight + gi * Og * Kdim, Kdim, false));
    }
    conv2d_forward_packed(g, packed.data(), input, bias, out, ep);
    return;
  }

  // Small images: one GEMM per group over all images (N = batch * pixels), then a pass that
  // moves each image's block to its place and adds the bias (and applies the epilogue).
  const std::int64_t N = g.batch * P;
  AlignedBuffer<float> scratch(static_cast<size_t>(Og * N));
  for (std::int64_t gi = 0; gi < g.groups; ++gi) {
    ColumnSource src(g, input, gi, 0, g.batch);
    if (prepacked) {
      gemm::gemm(N, 1.0f, prepacked->per_group[gi], src, 0.0f, scratch.data(), N);
    } else {
      gemm::MatrixA a(weight + gi * Og * Kdim, Kdim, false);
      gemm::gemm(Og, N, Kdim, 1.0f, a, src, 0.0f, scratch.data(), N);
    }
    parallel_for(
        g.batch * Og,
        [&](std::int64_t t0, std::int64_t t1) {
          for (std::int64_t t = t0; t < t1; ++t) {
            const std::int64_t b = t / Og, o = t % Og;
            const float* src_row = scratch.data() + o * N + b * P;
            float* dst = out + (b * O + gi * Og + o) * P;
            const float bv = bias ? bias[gi * Og + o] : 0.0f;
            if (ep.residual) {
              const float* res = ep.residual + (b * O + gi * Og + o) * P;
              for (std::int64_t p = 0; p < P; ++p) dst[p] = src_row[p] + bv + res[p];
            } else {
              for (std::int64_t p = 0; p < P; ++p) dst[p] = src_row[p] + bv;
            }
            if (ep.relu) apply_epilogue_rows(dst, nullptr, 1, P, true);
          }
        },
        8);
  }
}

bool conv2d_forward_is_gemm(const Conv2dGeometry& g) {
  return !is_depthwise(g) && g.in_channels / g.groups * g.kernel_h * g.kernel_w > 0 && !kn2row_applies(g) &&
         !direct_conv_applies(g);
}

void conv2d_forward_packed(const Conv2dGeometry& g, const gemm::PackedA* packed, const float* input, const float* bias,
                           float* out, const ConvEpilogue& ep) {
  // One GEMM per (image, group), written straight into the output with the bias (and the
  // residual of the epilogue) pre-filled (beta = 1), so there is no extra pass; ReLU then
  // runs over the block while it is still in cache. `columns` does this for output pixels
  // [n0, n1) of one (image, group).
  const std::int64_t P = g.out_h * g.out_w;
  const std::int64_t O = g.out_channels, Og = O / g.groups, Cg = g.in_channels / g.groups;
  const std::int64_t depth = Cg * g.kernel_h * g.kernel_w;  // the GEMM's K
  const std::int64_t in_image = g.in_channels * g.in_h * g.in_w;
  // A shallow GEMM (one depth block: a stem's 27, a 1x1 conv's input channels) spends much of
  // its time on C itself; there the bias goes in with the ReLU, in one pass after a GEMM that
  // only writes C, instead of a pre-fill the GEMM reads back (the same bits: the GEMM adds C to
  // its whole sum once). The 3-channel stem at 32x32 and 1x1 convs of 64 channels measured
  // 1.13-1.34x faster, batch 1 and 8, 1 and 2 threads.
  const bool bias_after = bias && !ep.residual && gemm::one_depth_block(depth);
  auto columns = [&](std::int64_t task, std::int64_t n0, std::int64_t n1) {
    const std::int64_t b = task / g.groups, gi = task % g.groups, block = (b * O + gi * Og) * P;
    float* c = out + block + n0;
    const float beta = bias_after ? 0.0f
                                  : prefill_output(c, P, Og, n1 - n0, bias ? bias + gi * Og : nullptr,
                                                   ep.residual ? ep.residual + block + n0 : nullptr, P);
    if (is_plain_1x1(g)) {
      gemm::MatrixB src(input + b * in_image + gi * Cg * P + n0, P, false);
      gemm::gemm(n1 - n0, 1.0f, packed[gi], src, beta, c, P);
    } else {
      ColumnSource image(g, input, gi, b, 1);
      gemm::ColumnRange src(image, n0);
      gemm::gemm(n1 - n0, 1.0f, packed[gi], src, beta, c, P);
    }
    if (bias_after) {
      add_bias_rows(c, P, Og, n1 - n0, bias + gi * Og, ep.relu);
    } else if (ep.relu) {
      relu_rows(c, P, Og, n1 - n0);
    }
  };
  // With enough images, the threads take whole images (one parallel region, no splitting
  // of a GEMM whose M may be as small as 32 rows); each image's GEMM then runs on one
  // thread, and the GEMM core computes every element the same way at any thread count.
  const std::int64_t tasks = g.batch * g.groups, threads = num_threads();
  const bool parallel = threads > 1 && !in_parallel_region();
  if (parallel && (tasks % threads == 0 || tasks >= 4 * threads)) {
    parallel_tasks(tasks, [&](std::int64_t task, int) { columns(task, 0, P); });
    return;
  }
  // Fewer images than threads (batch 1): the threads split each image's pixels, and each
  // pre-fills, multiplies and applies ReLU to its own columns. The GEMM would split the same
  // columns by itself, but the pre-fill and ReLU passes around it would then run on the calling
  // thread over columns another core wrote (a 3-channel stem at 64x64 measured 1.6x faster this
  // way at 2 threads, on a VM whose cores share data slowly). Narrow images are left to the
  // GEMM, which splits their rows instead (gemm/driver.cc), and small ones run on one thread,
  // as the GEMM would run them.
  if (parallel && P >= kPerImageMinPixels && gemm::runs_parallel(Og, P, depth)) {
    const std::int64_t units = (P + kColumnUnit - 1) / kColumnUnit;
    for (std::int64_t task = 0; task < tasks; ++task) {
      parallel_for(units, [&](std::int64_t u0, std::int64_t u1) {
        columns(task, u0 * kColumnUnit, std::min(P, u1 * kColumnUnit));
      });
    }
    return;
  }
  for (std::int64_t task = 0; task < tasks; ++task) columns(task, 0, P);
}

void conv2d_backward_input(const Conv2dGeometry& g, const float* grad_out, const float* weight, float* grad_input) {
  conv2d_check_geometry(g);
  if (g.batch == 0 || g.in_channels == 0) return;
  if (is_depthwise(g)) {
    depthwise_backward_input(g, grad_out, weight, grad_input);
    return;
  }
  if (backward_input_as_conv(g, grad_out, weight, grad_input)) return;
  const std::int64_t P = g.out_h * g.out_w, KK = g.kernel_h * g.kernel_w;
  const std::int64_t Og = g.out_channels / g.groups, Cg = g.in_channels / g.groups;
  const std::int64_t Kdim = Cg * KK;
  const std::int64_t HW = g.in_h * g.in_w;
  if (Og == 0) {
    std::fill(grad_input, grad_input + g.batch * g.in_channels * HW, 0.0f);
    return;
  }
  // Tasks: (group, block of images, block of input channels). Each task owns the
  // grad_input planes of its channels and images: nobody else writes them.
  const std::int64_t images_per_task =
      std::max<std::int64_t>(1, std::min(g.batch, kTileCols / std::max<std::int64_t>(P, 1)));
  const std::int64_t image_blocks = (g.batch + images_per_task - 1) / images_per_task;
  const std::int64_t channels_per_task = backward_input_channels_per_task(g);
  const std::int64_t cblocks = (Cg + channels_per_task - 1) / channels_per_task;
  const std::int64_t tasks = g.groups * image_blocks * cblocks;
  const std::int64_t tile_floats = channels_per_task * KK * images_per_task * P;
  std::vector<AlignedBuffer<float>> tiles(static_cast<size_t>(num_threads()));

  parallel_tasks(tasks, [&](std::int64_t task, int thread) {
    const std::int64_t gi = task / (image_blocks * cblocks);
    const std::int64_t rest = task % (image_blocks * cblocks);
    const std::int64_t ib = rest / cblocks, cb = rest % cblocks;
    const std::int64_t b0 = ib * images_per_task, nb = std::min(images_per_task, g.batch - b0);
    const std::int64_t c0 = cb * channels_per_task, nc = std::min(channels_per_task, Cg - c0);
    AlignedBuffer<float>& tile = tiles[static_cast<size_t>(thread)];
    if (tile.size() < static_cast<size_t>(tile_floats)) tile = AlignedBuffer<float>(static_cast<size_t>(tile_floats));
    const std::int64_t rows = nc * KK, cols = nb * P;
    // tile = W_g[:, c0*KK : (c0+nc)*KK]^T x grad_out_g[images b0..b0+nb)
    gemm::MatrixA a(weight + gi * Og * Kdim + c0 * KK, Kdim, true);
    RowsAcrossImagesSource src(grad_out, g.out_channels * P, P, gi * Og, b0, nb);
    gemm::gemm(rows, cols, Og, 1.0f, a, src, 0.0f, tile.data(), cols);
    scatter_tile(g, tile.data(), gi, c0, nc, b0, nb, grad_input);
  });
}

namespace {

// conv2d_backward_weight, by Winograd where it applies if `winograd` (cpu/conv2d_winograd.h).
void backward_weight(const Conv2dGeometry& g, const float* grad_out, const float* input, float* grad_weight,
                     bool winograd) {
  conv2d_check_geometry(g);
  const std::int64_t KK = g.kernel_h * g.kernel_w;
  const std::int64_t Og = g.out_channels / g.groups, Cg = g.in_channels / g.groups;
  const std::int64_t Kdim = Cg * KK;
  if (g.batch == 0) {
    std::fill(grad_weight, grad_weight + g.out_channels * Kdim, 0.0f);
    return;
  }
  if (is_depthwise(g)) {
    depthwise_backward_weight(g, grad_out, input, grad_weight);
    return;
  }
  if (direct_conv_weight_grad_applies(g)) {
    direct_conv_backward_weight(g, grad_out, input, grad_weight);
    return;
  }
  if (kn2row_applies(g)) {
    kn2row_backward_weight(g, grad_out, input, grad_weight);
    return;
  }
  if (winograd && winograd_backward_weight_applies(g) && winograd_backward_weight(g, grad_out, input, grad_weight)) {
    return;
  }
  const std::int64_t P = g.out_h * g.out_w;
  const std::int64_t in_image = g.in_channels * g.in_h * g.in_w, out_image = g.out_channels * P;
  // The GEMM core packs its whole A operand (here grad_out) up front: feed it a few images
  // at a time (about 1 MB of A) so the packed copy is consumed while it is still in cache,
  // accumulating into grad_W in a fixed order (deterministic).
  const std::int64_t images_per_call =
      std::max<std::int64_t>(1, std::min(g.batch, kWeightGradChunkFloats / std::max<std::int64_t>(1, Og * P)));
  // grad_W over images [b_begin, b_end), every group, into `out` (O x Kdim).
  auto images = [&](std::int64_t b_begin, std::int64_t b_end, float* out) {
    for (std::int64_t gi = 0; gi < g.groups; ++gi) {
      for (std::int64_t b0 = b_begin; b0 < b_end; b0 += images_per_call) {
        const std::int64_t nb = std::min(images_per_call, b_end - b0);
        // grad_W_g [Og x Kdim] (+)= grad_out_g [Og x (nb*P)] x col_g^T [(nb*P) x Kdim]
        RowsAcrossImagesA a(grad_out + b0 * out_image, out_image, P, gi * Og, nb);
        TransposedColumnSource src(g, input + b0 * in_image, gi);
        gemm::gemm(Og, Kdim, nb * P, 1.0f, a, src, b0 == b_begin ? 0.0f : 1.0f, out + gi * Og * Kdim, Kdim);
      }
    }
  };
  const std::int64_t weight_floats = g.out_channels * Kdim;
  if (g.batch < 2 || g.batch * P < kWeightGradSplitMinPixels || weight_floats > kWeightGradSplitMaxFloats) {
    images(0, g.batch, grad_weight);
    return;
  }
  // Two fixed halves of the batch, summed at the end (half 0 + half 1, always): two threads
  // each run whole GEMMs with no synchronisation inside (a small weight's GEMM splits into few
  // column chunks, and waits at every call), and the result does not depend on the thread
  // count, as the halves are the same at any count and each GEMM is thread-count independent.
  const std::int64_t half = (g.batch + 1) / 2;
  AlignedBuffer<float> second(static_cast<size_t>(weight_floats));
  auto run_half = [&](std::int64_t h) {
    if (h == 0) {
      images(0, half, grad_weight);
    } else {
      images(half, g.batch, second.data());
    }
  };
  if (num_threads() == 2 && !in_parallel_region()) {
    parallel_tasks(2, [&](std::int64_t h, int) { run_half(h); });
  } else {
    run_half(0);
    run_half(1);
  }
  for (std::int64_t i = 0; i < weight_floats; ++i) grad_weight[i] += second[static_cast<size_t>(i)];
}

}  // namespace

void conv2d_backward_weight(const Conv2dGeometry& g, const float* grad_out, const float* input, float* grad_weight) {
  backward_weight(g, grad_out, input, grad_weight, true);
}

void conv2d_backward_weight_direct(const Conv2dGeometry& g, const float* grad_out, const float* input,
                                   float* grad_weight) {
  backward_weight(g, grad_out, input, grad_weight, false);
}

void add_channel_bias(std::int64_t batch, std::int64_t channels, std::int64_t plane, const float* bias, float* x) {
  // Ranges of at least ~4096 floats: a linear layer's output ([rows, features], plane 1) would
  // otherwise wake the workers for a few hundred adds.
  const std::int64_t grain = std::max<std::int64_t>(1, 4096 / std::max<std::int64_t>(plane, 1));
  parallel_for(
      batch * channels,
      [&](std::int64_t t0, std::int64_t t1) {
        if (plane == 1) {
          // Runs of consecutive channels add the bias vector to a row: vectorised, no modulo per float.
          for (std::int64_t t = t0; t < t1;) {
            const std::int64_t c = t % channels, run = std::min(channels - c, t1 - t);
            float* p = x + t;
            for (std::int64_t i = 0; i < run; ++i) p[i] += bias[c + i];
            t += run;
          }
          return;
        }
        std::int64_t c = t0 % channels;
        for (std::int64_t t = t0; t < t1; ++t) {
          const float b = bias[c];
          float* p = x + t * plane;
          for (std::int64_t i = 0; i < plane; ++i) p[i] += b;
          if (++c == channels) c = 0;
        }
      },
      grain);
}

void channel_sums(std::int64_t batch, std::int64_t channels, std::int64_t plane, const float* x, float* sums) {
  parallel_for(channels, [&](std::int64_t c0, std::int64_t c1) {
    std::vector<double> totals(static_cast<size_t>(c1 - c0));
    if (plane == 1) {
      // A linear layer's bias gradient ([rows, features]): whole rows at a time, vectorised over
      // the features; the same double sums in the same order as the plane loop below.
      for (std::int64_t n = 0; n < batch; ++n) {
        const float* row = x + n * channels + c0;
        for (std::int64_t c = 0; c < c1 - c0; ++c) totals[static_cast<size_t>(c)] += row[c];
      }
      for (std::int64_t c = c0; c < c1; ++c) sums[c] = static_cast<float>(totals[c - c0]);
      return;
    }
    for_each_channel_plane(batch, channels, plane, c0, c1, [&](std::int64_t c, std::int64_t off) {
      // Eight partial sums in a fixed order: vectorisable and deterministic.
      const float* p = x + off;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      std::int64_t i = 0;
      for (; i + 8 <= plane; i += 8) {
        for (int l = 0; l < 8; ++l) acc[l] += p[i + l];
      }
      float s = 0.0f;
      for (; i < plane; ++i) s += p[i];
      for (int l = 0; l < 8; ++l) s += acc[l];
      totals[c - c0] += s;
    });
    for (std::int64_t c = c0; c < c1; ++c) sums[c] = static_cast<float>(totals[c - c0]);
  });
}

}  // namespace cpu
}  // namespace flexconv
