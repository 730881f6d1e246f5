// Deformable convolution on the CPU: a fused implicit GEMM over a channels-last copy.
//
// Per image, the input is copied once into a CHANNELS-LAST buffer with a zero border (one pixel
// left, right and top, two rows at the bottom: math/bilinear.h, padded_plane_pixels),
// padded[(yp * (W+2) + xp) * C + c]; output pixels are then processed in tiles. For
// a tile, the sampling plan (the padded pixel index of the top-left corner + 4 weights with
// the mask folded in, math/bilinear.h) is computed once per (offset group, kernel tap,
// output pixel) and reused by every input channel of the offset group. The GEMM depth is
// ordered (tap, channel) within a group (the weights reordered once per call to
// W'[o][tap][c], reorder_weights), so the samples of one (tap, pixel) over a run of channels are
// contiguous at each corner: vectors of channels are sampled with 4 loads and 4
// multiply-adds (cpu/deform_channels_last.h). The zero border makes out-of-image corners
// read 0, which is the torchvision / ONNX boundary rule without a branch; points outside the
// image read a 2x2 block of the border's zeros that no image corner touches. The tile size
// bounds the plan (and, in backward, the column-gradient tile) to a few MB; small maps are
// processed several images per tile (see Blocking).
//
// Forward: the B source samples 8 pixels x 8 channels at a time, transposed in registers,
// straight into the driver's packed panels; no column buffer for the image ever exists.
//
// Backward, per tile:
//   grad_weight' (tap-major, reordered to the torchvision layout at the end) +=
//     grad_out_tile x columns_tile^T: the transposed packer's panels are
//     [pixel][(tap, channel)], i.e. channels-last samples stored directly; the GEMM driver
//     gives each C element to one task with a fixed summation order, so this is deterministic.
//   grad_columns, pixel-major [pixel][group][tap][channel] = grad_out_tile^T x W' (a GEMM
//     with a transposed A), then
//     grad_input: scattered through the plan into a channels-last zero-bordered gradient (the
//       border collects the out-of-image corners and is dropped), vectorised over channels;
//       threads split by channel ranges, each range its own slab of memory (GradSlabs: each
//       thread owns its channels for all pixels; no two threads write one cache line; fixed
//       order within one), then copied back to NCHW;
//     grad_offset / grad_mask: per (offset group, tap, pixel), dot products over the offset
//       group's channels of grad_columns with the four corners, vectorised over channels and
//       reduced in a fixed order by the one thread owning that pixel chunk.
#include "ops/deform_conv2d.h"

#include "cpu/deform_conv2d.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "cpu/conv_epilogue.h"
#include "cpu/deform_channels_last.h"
#include "cpu/gemm/gemm.h"
#include "math/bilinear.h"

namespace flexconv {
namespace cpu {
namespace {

using math::DeformConv2dGeometry;

constexpr std::int64_t kPlanBudgetBytes = std::int64_t(3) << 20;    // sampling plans of a tile
constexpr std::int64_t kColumnBudgetBytes = std::int64_t(2) << 20;  // backward column gradients
// ... unless a whole image's column gradients fit in this (then an image is never split).
constexpr std::int64_t kWholeImageColumnBytes = std::int64_t(4) << 20;
constexpr std::int64_t kMinTile = 64;

// Small maps are processed several images at a time as one pixel range (pixel q of a block
// is pixel q % P of image q / P): the GEMMs then see enough columns, and the per-GEMM costs
// (packing the weights, writing a weight-gradient partial) are paid per block, not per image.
// A block of more than one image is always a single tile.
constexpr std::int64_t kBlockPixels = 512;
constexpr std::int64_t kBlockColumnBudgetBytes = std::int64_t(8) << 20;

std::int64_t budget_pixels(std::int64_t bytes_per_pixel, std::int64_t budget) {
  return std::max<std::int64_t>(kMinTile, budget / std::max<std::int64_t>(1, bytes_per_pixel));
}

struct Blocking {
  std::int64_t images;  // per block
  std::int64_t tile;    // pixels per tile (the whole block when images > 1)
  std::int64_t blocks(std::int64_t batch) const { return (batch + images - 1) / images; }
};

// Depends on the shapes only (never on the thread count), so results are the same at any
// number of threads. col_bytes: backward column-gradient bytes per pixel, 0 in forward.
Blocking make_blocking(const DeformConv2dGeometry& g, std::int64_t plan_bytes, std::int64_t col_bytes) {
  const std::int64_t P = g.out_pixels();
  const std::int64_t plan_cap = budget_pixels(plan_bytes, kPlanBudgetBytes);
  std::int64_t col_cap = col_bytes ? budget_pixels(col_bytes, kColumnBudgetBytes) : P;
  if (P * col_bytes <= kWholeImageColumnBytes) col_cap = P;
  const std::int64_t tile = std::min({P, plan_cap, col_cap});
  if (2 * P > kBlockPixels || g.batch < 2) return {1, tile};
  std::int64_t cap = std::min(kBlockPixels, plan_cap);
  if (col_bytes) cap = std::min(cap, budget_pixels(col_bytes, kBlockColumnBudgetBytes));
  std::int64_t images = std::min(g.batch, cap / P);
  if (images < 2) return {1, tile};
  // Blocks of equal size, and at least 4 of them when the batch allows (blocks are what the
  // threads share in backward): 64 images at most 28 a block make 4 blocks of 16, not 28+28+8.
  std::int64_t blocks = (g.batch + images - 1) / images;
  blocks = std::max(blocks, std::min<std::int64_t>(4, g.batch / 2));
  images = (g.batch + blocks - 1) / blocks;
  return images > 1 ? Blocking{images, images * P} : Blocking{1, tile};
}

// Calls fn(run, at) for the sampling points of tap kp of offset group og at pixels
// [q0, q0 + n) of a block (pixel q is pixel q % P of the block's image q / P; offset and mask
// from the block's first image), split into runs along one output row of one image; `at` is
// the run's first pixel relative to q0. The run's index_offset selects the image's copy.
template <typename Fn>
void for_each_point_run(const DeformConv2dGeometry& g, const float* offset, const float* mask, std::int64_t og,
                        std::int64_t kp, std::int64_t q0, std::int64_t n, Fn fn) {
  const std::int64_t P = g.out_pixels(), K = g.taps(), G = g.offset_groups;
  const std::int64_t HWp = math::padded_plane_pixels(g.in_h, g.in_w);
  const std::int64_t i = kp / g.kernel_w, j = kp - i * g.kernel_w;
  std::int64_t img = q0 / P, pix = q0 - img * P;
  std::int64_t oy = pix / g.out_w, ox = pix - oy * g.out_w;
  for (std::int64_t at = 0; at < n;) {
    const std::int64_t len = std::min(n - at, g.out_w - ox);
    const float* dy = offset + img * 2 * G * K * P + (og * 2 * K + 2 * kp) * P + pix;
    const PlanRun run{math::deform_base_coord(oy, g.stride_h, g.pad_h, i, g.dil_h),
                      ox * g.stride_w - g.pad_w + j * g.dil_w,
                      g.stride_w,
                      dy,
                      dy + P,
                      mask ? mask + img * G * K * P + (og * K + kp) * P + pix : nullptr,
                      len,
                      g.in_h,
                      g.in_w,
                      static_cast<std::int32_t>(img * HWp)};
    fn(run, at);
    at += len;
    pix += len;
    ox += len;
    if (ox == g.out_w) {
      ox = 0;
      ++oy;
    }
    if (pix == P) {
      pix = oy = ox = 0;
      ++img;
    }
  }
}

// Plans for (offset group, tap, pixel in [t0, t0 + count)) against the zero-bordered image,
// structure of arrays [og][tap][pixel] (weights in (left, right) pairs, see
// deform_channels_last.h); indexes count padded pixels.
class PlanTile {
 public:
  PlanTile(const DeformConv2dGeometry& g, std::int64_t capacity)
      : g_(g),
        capacity_(capacity),
        size_(g.offset_groups * g.taps() * capacity),
        index_(static_cast<size_t>(size_)),
        weight_(static_cast<size_t>(4 * size_)) {}

  static std::int64_t bytes_per_pixel(const DeformConv2dGeometry& g) {
    return g.offset_groups * g.taps() * std::int64_t(5 * sizeof(float));
  }

  // Pixels [t0, t0 + count) of a block whose first image's offsets and mask are given (pixel
  // q is pixel q % P of the block's image q / P; its index points into that image's copy).
  void build(const float* offset, const float* mask, std::int64_t t0, std::int64_t count) {
    count_ = count;
    const std::int64_t rows = g_.offset_groups * g_.taps();
    const std::int64_t K = g_.taps();
    constexpr std::int64_t kChunk = 256;  // pixels of one plan row per task
    const std::int64_t chunks = (count + kChunk - 1) / kChunk;
    parallel_for(rows * chunks, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t task = begin; task < end; ++task) {
        const std::int64_t row = task / chunks, p0 = (task - row * chunks) * kChunk;
        const std::int64_t len = std::min(count - p0, kChunk);
        std::int32_t* index = index_.data() + row * capacity_ + p0;
        float* w01 = weight_.data() + 2 * (row * capacity_ + p0);
        float* w23 = weight_.data() + 2 * size_ + 2 * (row * capacity_ + p0);
        for_each_point_run(g_, offset, mask, row / K, row % K, t0 + p0, len, [&](const PlanRun& run, std::int64_t at) {
          plan_run(run, index + at, w01 + 2 * at, w23 + 2 * at);
        });
      }
    });
  }

  // The plan row of (og, kp) from pixel `from` of the tile.
  PlanRow plan(std::int64_t og, std::int64_t kp, std::int64_t from) const {
    const std::int64_t at = (og * g_.taps() + kp) * capacity_ + from;
    const float* w = weight_.data();
    return PlanRow{index_.data() + at, w + 2 * at, w + 2 * size_ + 2 * at};
  }
  std::int64_t count() const { return count_; }
  // Plan points from one tap's row to the next tap's.
  std::int64_t tap_stride() const { return capacity_; }

 private:
  const DeformConv2dGeometry& g_;
  std::int64_t capacity_, size_;
  std::int64_t count_ = 0;
  AlignedBuffer<std::int32_t> index_;
  AlignedBuffer<float> weight_;
};

std::int64_t padded_plane_size(const DeformConv2dGeometry& g) { return math::padded_plane_pixels(g.in_h, g.in_w); }

// Floats of one image's channels-last zero-bordered copy (plus the vector kernels' slack).
std::int64_t padded_cl_size(const DeformConv2dGeometry& g, std::int64_t images) {
  return images * padded_plane_size(g) * g.in_channels + kPaddedSlack;
}

// Copies one NCHW image into a channels-last buffer with the zero border of
// math::padded_plane_pixels: padded[(yp * (W+2) + xp) * C + c]. Threads split padded rows.
void pad_image_cl(const DeformConv2dGeometry& g, const float* in_n, float* padded) {  // no slack
  const std::int64_t H = g.in_h, W = g.in_w, Wp = W + 2, C = g.in_channels, HW = H * W;
  const std::int64_t rows = padded_plane_size(g) / Wp;  // H + 3
  parallel_for(rows, [&](std::int64_t y0, std::int64_t y1) {
    for (std::int64_t yp = y0; yp < y1; ++yp) {
      float* row = padded + yp * Wp * C;
      if (yp == 0 || yp > H) {
        std::fill(row, row + Wp * C, 0.0f);
        continue;
      }
      std::fill(row, row + C, 0.0f);
      std::fill(row + (W + 1) * C, row + Wp * C, 0.0f);
    }
    // 8 channels at a time over the range's rows: the 8 source planes are read as streams
    // (planes of 1024 floats lie 4 KB apart, and 8 rows of them at once would share one L1 set).
    const std::int64_t r0 = std::max<std::int64_t>(y0, 1), r1 = std::min(y1, H + 1);
    for (std::int64_t c0 = 0; c0 < C; c0 += 8) {
      const std::int64_t n = std::min<std::int64_t>(8, C - c0);
      for (std::int64_t yp = r0; yp < r1; ++yp) {
        transpose(in_n + c0 * HW + (yp - 1) * W, HW, n, W, padded + (yp * Wp + 1) * C + c0, C);
      }
    }
  });
}

// The channels-last copies of `images` consecutive images, one after another, + zero slack.
void pad_block_cl(const DeformConv2dGeometry& g, const float* in_n0, std::int64_t images, float* padded) {
  const std::int64_t C = g.in_channels, size = padded_plane_size(g) * C;
  for (std::int64_t j = 0; j < images; ++j) pad_image_cl(g, in_n0 + j * C * g.in_pixels(), padded + j * size);
  std::fill(padded + images * size, padded + images * size + kPaddedSlack, 0.0f);
}

// Between the torchvision weight layout (O, Cg, K) and the tap-major one (O, K, Cg): the
// GEMM operand whose depth (forward) or columns (backward grad_columns = grad_out^T x W') are
// ordered (tap, channel), and the weight gradient computed in that order.
void reorder_weights(const DeformConv2dGeometry& g, const float* src, float* dst, bool to_tap_major) {
  const std::int64_t K = g.taps(), Cg = g.group_in_channels(), row = Cg * K;
  parallel_for(g.out_channels, [&](std::int64_t o0, std::int64_t o1) {
    for (std::int64_t o = o0; o < o1; ++o) {
      // Contiguous writes; the strided reads stay within one output channel's row.
      const float* s = src + o * row;
      float* d = dst + o * row;
      if (to_tap_major) {
        for (std::int64_t kp = 0; kp < K; ++kp) {
          for (std::int64_t c = 0; c < Cg; ++c) d[kp * Cg + c] = s[c * K + kp];
        }
      } else {
        for (std::int64_t c = 0; c < Cg; ++c) {
          for (std::int64_t kp = 0; kp < K; ++kp) d[c * K + kp] = s[kp * Cg + c];
        }
      }
    }
  });
}

// Splits depth rows [k0, k0 + kc) of one group's (tap, channel) order into runs of one tap
// and one offset group: fn(tap, og, first channel (absolute), channels, row offset from k0).
template <typename Fn>
void for_each_tap_run(const DeformConv2dGeometry& g, std::int64_t c_begin, std::int64_t k0, std::int64_t kc, Fn fn) {
  const std::int64_t Cg = g.group_in_channels(), cog = g.offset_group_channels();
  for (std::int64_t k = k0; k < k0 + kc;) {
    const std::int64_t kp = k / Cg, c = c_begin + (k - kp * Cg), og = c / cog;
    const std::int64_t end = std::min({c_begin + Cg, (og + 1) * cog, c + (k0 + kc - k)});
    fn(kp, og, c, end - c, k - k0);
    k += end - c;
  }
}

// The virtual column matrix of one group for one tile, depth ordered (tap, channel): rows
// (tap, channel of the group), columns the tile's pixels. Packs B panels for out = W' x columns.
class DeformColumnsCL final : public gemm::BSource {
 public:
  DeformColumnsCL(const DeformConv2dGeometry& g, const PlanTile& plans, const float* padded, std::int64_t c_begin)
      : g_(g), plans_(plans), img_{padded, g.in_channels, g.in_w + 2}, c_begin_(c_begin) {}

  void pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const override {
    for_each_tap_run(g_, c_begin_, k0, kc,
                     [&](std::int64_t kp, std::int64_t og, std::int64_t c, std::int64_t n, std::int64_t row) {
                       sample_tap_panels(img_, c, n, plans_.plan(og, kp, n0), nc, nr, kc * nr, dst + row * nr);
                     });
  }

 private:
  const DeformConv2dGeometry& g_;
  const PlanTile& plans_;
  PaddedImage img_;
  std::int64_t c_begin_;
};

}  // namespace

namespace {

// Scratch space of one image in flight: its sampling plans and its zero-bordered copy.
struct ForwardScratch {
  ForwardScratch(const DeformConv2dGeometry& g, const Blocking& bl)
      : plans(g, bl.tile),
        padded(static_cast<size_t>(padded_cl_size(g, bl.images))),
        out(bl.images > 1 ? static_cast<size_t>(g.out_channels * bl.tile) : 0) {}
  PlanTile plans;
  AlignedBuffer<float> padded;
  AlignedBuffer<float> out;  // a block's output, [o][pixel of the block], when images > 1
};

// Images [n0, n0 + images) of the batch, then the epilogue (+ residual, ReLU; conv_epilogue.h).
void forward_block(const DeformConv2dGeometry& g, std::int64_t n0, std::int64_t images, const float* input,
                   const float* offset, const float* mask, const std::vector<gemm::PackedA>& weights, const float* bias,
                   float* output, std::int64_t tile, ForwardScratch& scratch, const ConvEpilogue& ep) {
  const std::int64_t P = g.out_pixels(), K = g.taps(), HW = g.in_pixels();
  const std::int64_t C = g.in_channels, O = g.out_channels, Cg = g.group_in_channels(), Og = g.group_out_channels();
  const std::int64_t G = g.offset_groups, Q = images * P;
  const float* off_n = offset + n0 * 2 * G * K * P;
  const float* mask_n = mask ? mask + n0 * G * K * P : nullptr;
  // One image writes its output in place; a block goes through scratch.out ([o][q], row Q).
  float* out_n = images == 1 ? output + n0 * O * P : scratch.out.data();
  const std::int64_t ldc = images == 1 ? P : Q;
  pad_block_cl(g, input + n0 * C * HW, images, scratch.padded.data());
  // One image: its output tile is pre-filled with bias + residual and the GEMM adds to it;
  // ReLU follows while the tile is in cache. A block: the epilogue runs in the copy-back.
  const float* residual = images == 1 && ep.residual ? ep.residual + n0 * O * P : nullptr;
  for (std::int64_t t0 = 0; t0 < Q; t0 += tile) {
    const std::int64_t count = std::min(tile, Q - t0);
    scratch.plans.build(off_n, mask_n, t0, count);
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      float* c_out = out_n + grp * Og * ldc + t0;
      const float beta = prefill_output(c_out, ldc, Og, count, bias ? bias + grp * Og : nullptr,
                                        residual ? residual + grp * Og * P + t0 : nullptr, P);
      DeformColumnsCL b(g, scratch.plans, scratch.padded.data(), grp * Cg);
      gemm::gemm(count, 1.0f, weights[static_cast<size_t>(grp)], b, beta, c_out, ldc);
      if (images == 1 && ep.relu) relu_rows(c_out, ldc, Og, count);
    }
  }
  if (images > 1) {
    parallel_for(images * O, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t j = r / O, o = r - j * O, at = (n0 + j) * O * P + o * P;
        float* dst = output + at;
        const float* src = out_n + o * Q + j * P;
        if (ep.residual) {
          for (std::int64_t p = 0; p < P; ++p) dst[p] = src[p] + ep.residual[at + p];
        } else {
          std::copy(src, src + P, dst);
        }
        if (ep.relu) relu_rows(dst, P, 1, P);
      }
    });
  }
}

// Runs fn(b, scratch) for every block of images: one block per task (each task's kernels and
// GEMMs run inline on its thread: one parallel region per call instead of several per block)
// when there are enough blocks to feed the threads, else block by block with every kernel
// threaded. Each block's arithmetic is the same either way.
template <typename Scratch, typename MakeScratch, typename Fn>
void for_each_block(std::int64_t batch, bool image_parallel, MakeScratch make, Fn fn) {
  if (!image_parallel) {
    Scratch scratch = make();
    for (std::int64_t n = 0; n < batch; ++n) fn(n, scratch);
    return;
  }
  std::vector<std::unique_ptr<Scratch>> per_thread(static_cast<size_t>(num_threads()));
  parallel_tasks(batch, [&](std::int64_t n, int thread) {
    auto& slot = per_thread[static_cast<size_t>(thread)];
    if (!slot) slot.reset(new Scratch(make()));
    fn(n, *slot);
  });
}

}  // namespace

namespace {

// The forward with each group's tap-major weights packed (weights[grp]).
void forward_with_packed(const DeformConv2dGeometry& g, const float* input, const float* offset, const float* mask,
                         const std::vector<gemm::PackedA>& weights, const float* bias, float* output,
                         const ConvEpilogue& ep = {}) {
  if (g.batch == 0 || g.out_channels == 0 || g.out_pixels() == 0) return;
  const Blocking bl = make_blocking(g, PlanTile::bytes_per_pixel(g), 0);
  const std::int64_t blocks = bl.blocks(g.batch);
  // Whole blocks per thread when they balance (a multiple of the thread count, or enough that
  // the remainder hardly matters); otherwise each block's kernels are threaded.
  const std::int64_t threads = num_threads();
  const bool block_parallel = threads > 1 && (blocks % threads == 0 || blocks >= 4 * threads) && !in_parallel_region();
  for_each_block<ForwardScratch>(
      blocks, block_parallel, [&] { return ForwardScratch(g, bl); },
      [&](std::int64_t b, ForwardScratch& scratch) {
        const std::int64_t n0 = b * bl.images;
        forward_block(g, n0, std::min(bl.images, g.batch - n0), input, offset, mask, weights, bias, output, bl.tile,
                      scratch, ep);
      });
}

// Each group's rows of the weight, reordered tap-major ((tap, channel) columns) and packed.
std::vector<gemm::PackedA> pack_tap_major(const DeformConv2dGeometry& g, const float* weight) {
  const std::int64_t K = g.taps(), Cg = g.group_in_channels(), Og = g.group_out_channels();
  std::vector<gemm::PackedA> weights;
  weights.reserve(static_cast<size_t>(g.groups));
  AlignedBuffer<float> weight_tm(static_cast<size_t>(g.out_channels * Cg * K));
  reorder_weights(g, weight, weight_tm.data(), true);
  for (std::int64_t grp = 0; grp < g.groups; ++grp) {
    weights.emplace_back(Og, Cg * K, gemm::MatrixA(weight_tm.data() + grp * Og * Cg * K, Cg * K, false));
  }
  return weights;
}

}  // namespace

void deform_conv2d_forward(const DeformConv2dGeometry& g, const float* input, const float* offset, const float* mask,
                           const float* weight, const float* bias, float* output) {
  if (g.batch == 0 || g.out_channels == 0 || g.out_pixels() == 0) return;
  forward_with_packed(g, input, offset, mask, pack_tap_major(g, weight), bias, output);
}

std::unique_ptr<PackedConvWeights> deform_conv2d_pack_weights(const float* weight, std::int64_t out_channels,
                                                              std::int64_t in_per_group, std::int64_t kernel_h,
                                                              std::int64_t kernel_w, std::int64_t groups) {
  // Only the weight's dimensions matter to the reorder and the packing.
  DeformConv2dGeometry g{};
  g.out_channels = out_channels;
  g.in_channels = in_per_group * groups;
  g.kernel_h = kernel_h;
  g.kernel_w = kernel_w;
  g.groups = groups;
  auto p = std::make_unique<PackedConvWeights>();
  *p = PackedConvWeights{out_channels,
                         in_per_group,
                         kernel_h,
                         kernel_w,
                         groups,
                         PackedConvWeights::Order::TapMajor,
                         pack_tap_major(g, weight),
                         {},
                         {}};
  return p;
}

bool deform_conv2d_packed_fits(const DeformConv2dGeometry& g, const PackedConvWeights& p) {
  return p.order == PackedConvWeights::Order::TapMajor && p.out_channels == g.out_channels && p.groups == g.groups &&
         p.in_per_group * g.groups == g.in_channels && p.kernel_h == g.kernel_h && p.kernel_w == g.kernel_w &&
         static_cast<std::int64_t>(p.per_group.size()) == g.groups;
}

void deform_conv2d_forward_prepacked(const DeformConv2dGeometry& g, const float* input, const float* offset,
                                     const float* mask, const PackedConvWeights& packed, const float* bias,
                                     float* output, const ConvEpilogue& epilogue) {
  if (!deform_conv2d_packed_fits(g, packed)) {
    throw Error(ErrorCode::ShapeMismatch, "deformConv2d: the prepacked weights do not fit this convolution");
  }
  forward_with_packed(g, input, offset, mask, packed.per_group, bias, output, epilogue);
}

namespace {

// The transposed column matrix of one group for one tile: rows the tile's pixels, columns
// (tap, channel of the group). Packs B panels for grad_weight' = grad_out x columns^T; a
// panel row is a run of channels-last samples, stored without a transpose.
class DeformColumnsTCL final : public gemm::BSource {
 public:
  DeformColumnsTCL(const DeformConv2dGeometry& g, const PlanTile& plans, const float* padded, std::int64_t c_begin)
      : g_(g), plans_(plans), img_{padded, g.in_channels, g.in_w + 2}, c_begin_(c_begin) {}

  void pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const override {
    for (std::int64_t p0 = 0; p0 < nc; p0 += nr) {
      float* panel = dst + (p0 / nr) * kc * nr;
      const std::int64_t width = std::min<std::int64_t>(nr, nc - p0);
      for_each_tap_run(g_, c_begin_, n0 + p0, width,
                       [&](std::int64_t kp, std::int64_t og, std::int64_t c, std::int64_t n, std::int64_t col) {
                         sample_channel_rows(img_, c, n, plans_.plan(og, kp, k0), kc, panel + col, nr);
                       });
      if (width < nr) {
        for (std::int64_t kk = 0; kk < kc; ++kk) std::fill(panel + kk * nr + width, panel + (kk + 1) * nr, 0.0f);
      }
    }
  }

 private:
  const DeformConv2dGeometry& g_;
  const PlanTile& plans_;
  PaddedImage img_;
  std::int64_t c_begin_;
};

// Splits channels [c_lo, c_hi) into runs inside one group and one offset group:
// fn(first channel, channels, group, offset group).
template <typename Fn>
void for_each_channel_run(const DeformConv2dGeometry& g, std::int64_t c_lo, std::int64_t c_hi, Fn fn) {
  const std::int64_t Cg = g.group_in_channels(), cog = g.offset_group_channels();
  for (std::int64_t c = c_lo; c < c_hi;) {
    const std::int64_t grp = c / Cg, og = c / cog;
    const std::int64_t end = std::min({c_hi, (grp + 1) * Cg, (og + 1) * cog});
    fn(c, end - c, grp, og);
    c = end;
  }
}

// The channels-last zero-bordered input gradient of a block of images, in channel slabs: slab
// b holds channels [b * width, b * width + w_b) of every padded pixel of the block's images,
// [pixel][channel of the slab], w_b floats per pixel, the slabs one after another. With one slab
// per thread, the threads' scatters write disjoint memory: sharing each pixel's row of C floats
// (thread 0 the first half of the channels, thread 1 the rest), a one-image 256-channel backward
// ran its scatter slower at 2 threads than one thread alone (the cores kept taking the lines of
// each other's half, which the prefetchers bring along). The layout never changes a float: each
// address gets the same updates in the same order.
struct GradSlabs {
  std::int64_t channels, width, pixels;  // pixels: padded pixels of all the block's images

  GradSlabs(const DeformConv2dGeometry& g, std::int64_t images)
      : channels(g.in_channels), width(width_for(g.in_channels)), pixels(images * padded_plane_size(g)) {}
  // One slab per thread (one when already inside the thread pool's tasks), a multiple of 8 wide.
  static std::int64_t width_for(std::int64_t channels) {
    const std::int64_t threads = in_parallel_region() ? 1 : num_threads();
    return std::max<std::int64_t>(8, ((channels + threads - 1) / threads + 7) / 8 * 8);
  }
  std::int64_t count() const { return (channels + width - 1) / width; }
  std::int64_t first(std::int64_t b) const { return b * width; }
  std::int64_t width_of(std::int64_t b) const { return std::min(width, channels - first(b)); }
  float* slab(float* data, std::int64_t b) const { return data + first(b) * pixels; }
  const float* slab(const float* data, std::int64_t b) const { return data + first(b) * pixels; }
};

// grad_input of one tile into the slabs (the border collects the gradients of out-of-image
// corners and is dropped), a thread per slab; within a slab the updates of one address come in
// (pixel, tap, corner) order.
void scatter_input_grad(const DeformConv2dGeometry& g, const PlanTile& plans, const float* grad_cols,
                        const GradSlabs& slabs, float* grad_padded) {
  const std::int64_t C = g.in_channels, K = g.taps(), Cg = g.group_in_channels(), Wp = g.in_w + 2;
  const std::int64_t count = plans.count(), stride = C * K;
  parallel_tasks(slabs.count(), [&](std::int64_t b, int) {
    const std::int64_t c_lo = slabs.first(b), width = slabs.width_of(b);
    float* slab = slabs.slab(grad_padded, b);
    for_each_channel_run(g, c_lo, c_lo + width, [&](std::int64_t c, std::int64_t n, std::int64_t grp, std::int64_t og) {
      const ScatterTaps taps{
          plans.plan(og, 0, 0), plans.tap_stride(), K, grad_cols + grp * Cg * K + (c - grp * Cg), stride, Cg};
      scatter_channel_rows(slab, width, Wp, c - c_lo, n, taps, count);
    });
  });
}

// NCHW grad_input of image j of the block from the slabs.
void unpad_grad_image(const DeformConv2dGeometry& g, const GradSlabs& slabs, const float* grad_padded, std::int64_t j,
                      float* out_n) {
  const std::int64_t H = g.in_h, W = g.in_w, Wp = W + 2, C = g.in_channels, HW = H * W;
  const std::int64_t plane = padded_plane_size(g);
  parallel_for(H, [&](std::int64_t y0, std::int64_t y1) {
    for (std::int64_t c0 = 0; c0 < C; c0 += 8) {  // 8 output planes at a time, as in pad_image_cl
      const std::int64_t n = std::min<std::int64_t>(8, C - c0);
      const std::int64_t b = c0 / slabs.width, w = slabs.width_of(b);  // (width is a multiple of 8)
      const float* image = slabs.slab(grad_padded, b) + j * plane * w;
      for (std::int64_t y = y0; y < y1; ++y) {
        transpose(image + ((y + 1) * Wp + 1) * w + (c0 - slabs.first(b)), w, W, n, out_n + c0 * HW + y * W, HW);
      }
    }
  });
}

// grad_offset / grad_mask of a block (offsets, mask and gradients from the block's first
// image on) for pixels [t0, t0 + count) of the block: each task owns a chunk
// of pixels of one (offset group, tap). For each point, the dot products of grad_columns with
// the four corners over the offset group's channels (corner_dots, in channel-run order) give
// the value and both derivatives through the bilinear coefficients.
void offset_mask_grad(const DeformConv2dGeometry& g, const float* padded, const float* off_n, const float* mask_n,
                      const float* grad_cols, std::int64_t t0, std::int64_t count, float* grad_off_n,
                      float* grad_mask_n) {
  constexpr std::int64_t kChunk = 64;
  const std::int64_t K = g.taps(), P = g.out_pixels(), C = g.in_channels, Cg = g.group_in_channels();
  const std::int64_t cog = g.offset_group_channels(), stride = C * K;
  const std::int64_t chunks = (count + kChunk - 1) / kChunk;
  const std::int64_t G = g.offset_groups;
  const PaddedImage img{padded, C, g.in_w + 2};
  parallel_for(g.offset_groups * K * chunks, [&](std::int64_t begin, std::int64_t end) {
    alignas(64) std::int32_t index[kChunk];
    alignas(64) float ly[kChunk], lx[kChunk], valid[kChunk], grad_valid[kChunk], m[kChunk], dots[4 * kChunk];
    alignas(64) float out_y[kChunk], out_x[kChunk], out_m[kChunk];
    const PointRun points{index, ly, lx, valid, grad_valid};
    for (std::int64_t task = begin; task < end; ++task) {
      // Task order (offset group, chunk, tap): a thread's consecutive tasks read the same
      // pixels' corners and column-gradient rows.
      const std::int64_t og = task / (chunks * K), rest = task - og * chunks * K;
      const std::int64_t chunk = rest / K, kp = rest - chunk * K;
      const std::int64_t p0 = chunk * kChunk, len = std::min(kChunk, count - p0);
      for_each_point_run(g, off_n, mask_n, og, kp, t0 + p0, len, [&](const PlanRun& run, std::int64_t at) {
        point_run(run, points.advanced(at));
        for (std::int64_t q = 0; q < run.n; ++q) m[at + q] = run.mask ? run.mask[q] : 1.0f;
      });
      std::fill(dots, dots + 4 * len, 0.0f);
      for_each_channel_run(g, og * cog, (og + 1) * cog,
                           [&](std::int64_t c, std::int64_t n, std::int64_t grp, std::int64_t) {
                             const float* gc = grad_cols + p0 * stride + grp * Cg * K + kp * Cg + (c - grp * Cg);
                             corner_dots(img, c, n, index, len, gc, stride, dots);
                           });
      for (std::int64_t j = 0; j < len; ++j) {
        const float* s = dots + 4 * j;
        const float hy = 1.0f - ly[j], hx = 1.0f - lx[j];
        const float gm = (hy * hx * s[0] + hy * lx[j] * s[1]) + (ly[j] * hx * s[2] + ly[j] * lx[j] * s[3]);
        const float gy = (hx * (s[2] - s[0]) + lx[j] * (s[3] - s[1])) * m[j];
        const float gx = (hy * (s[1] - s[0]) + ly[j] * (s[3] - s[2])) * m[j];
        // torchvision's rule (math/bilinear.h): the mask gradient (the sample) is 0 outside the
        // value region, the coordinate derivatives 0 outside the derivative region, exactly,
        // whatever the dots hold.
        const bool grad_ok = grad_valid[j] != 0.0f;
        out_y[j] = grad_ok ? gy : 0.0f;
        out_x[j] = grad_ok ? gx : 0.0f;
        out_m[j] = valid[j] != 0.0f ? gm : 0.0f;
      }
      // Stored by runs inside one image.
      for (std::int64_t j = 0; j < len;) {
        const std::int64_t q = t0 + p0 + j, im = q / P, p = q - im * P, n = std::min(len - j, P - p);
        if (grad_off_n) {
          float* to = grad_off_n + im * 2 * G * K * P + (og * 2 * K + 2 * kp) * P + p;
          std::copy(out_y + j, out_y + j + n, to);
          std::copy(out_x + j, out_x + j + n, to + P);
        }
        if (grad_mask_n) std::copy(out_m + j, out_m + j + n, grad_mask_n + im * G * K * P + (og * K + kp) * P + p);
        j += n;
      }
    }
  });
}

struct BackwardScratch {
  BackwardScratch(const DeformConv2dGeometry& g, const Blocking& bl, bool need_cols, bool need_padded,
                  bool need_grad_in)
      : plans(g, bl.tile),
        grad_cols(need_cols ? static_cast<size_t>(g.in_channels * g.taps() * bl.tile) : 0),
        padded(need_padded ? static_cast<size_t>(padded_cl_size(g, bl.images)) : 0),
        grad_padded(need_grad_in ? static_cast<size_t>(padded_cl_size(g, bl.images)) : 0),
        grad_out(bl.images > 1 ? static_cast<size_t>(g.out_channels * bl.tile) : 0) {}
  BackwardScratch(BackwardScratch&&) = default;
  PlanTile plans;
  AlignedBuffer<float> grad_cols, padded, grad_padded;
  AlignedBuffer<float> grad_out;  // a block's grad_output, [o][pixel of the block], when images > 1
};

// Every gradient of images [n0, n0 + images) except grad_bias; weight_tm is the tap-major
// weight (see reorder_weights, needed for grad_columns only); grad_weight_b receives this
// block's weight gradient in tap-major order [o][tap][channel of the group] (overwritten).
void backward_block(const DeformConv2dGeometry& g, std::int64_t n0, std::int64_t images, const float* input,
                    const float* offset, const float* mask, const float* weight_tm, const float* grad_output,
                    float* grad_input, float* grad_offset, float* grad_mask, float* grad_weight_b, std::int64_t tile,
                    BackwardScratch& s) {
  const std::int64_t P = g.out_pixels(), K = g.taps(), HW = g.in_pixels();
  const std::int64_t C = g.in_channels, O = g.out_channels, Cg = g.group_in_channels(), Og = g.group_out_channels();
  const std::int64_t G = g.offset_groups, Q = images * P;
  const bool need_cols = grad_input || grad_offset || grad_mask;
  const float* off_n = offset + n0 * 2 * G * K * P;
  const float* mask_n = mask ? mask + n0 * G * K * P : nullptr;
  // One image reads grad_output in place; a block gathers it as [o][q] (row Q).
  const float* gout_n = grad_output + n0 * O * P;
  std::int64_t ld = P;
  if (images > 1) {
    float* dst = s.grad_out.data();
    parallel_for(images * O, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t j = r / O, o = r - j * O;
        std::copy(gout_n + j * O * P + o * P, gout_n + j * O * P + (o + 1) * P, dst + o * Q + j * P);
      }
    });
    gout_n = dst;
    ld = Q;
  }
  if (s.padded.size()) pad_block_cl(g, input + n0 * C * HW, images, s.padded.data());
  if (grad_input) std::fill(s.grad_padded.data(), s.grad_padded.data() + s.grad_padded.size(), 0.0f);
  const GradSlabs slabs(g, images);
  for (std::int64_t t0 = 0; t0 < Q; t0 += tile) {
    const std::int64_t count = std::min(tile, Q - t0);
    s.plans.build(off_n, mask_n, t0, count);
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      const float* gout_g = gout_n + grp * Og * ld + t0;
      if (grad_weight_b) {
        gemm::MatrixA a(gout_g, ld, false);
        DeformColumnsTCL b(g, s.plans, s.padded.data(), grp * Cg);
        gemm::gemm(Og, Cg * K, count, 1.0f, a, b, t0 == 0 ? 0.0f : 1.0f, grad_weight_b + grp * Og * Cg * K, Cg * K);
      }
      if (need_cols) {
        // Pixel-major: row q of the tile holds [group][tap][channel], so the scatter and the
        // offset gradient read runs of channels.
        gemm::MatrixA a(gout_g, ld, true);
        gemm::MatrixB b(weight_tm + grp * Og * Cg * K, Cg * K, false);
        gemm::gemm(count, Cg * K, Og, 1.0f, a, b, 0.0f, s.grad_cols.data() + grp * Cg * K, C * K);
      }
    }
    if (grad_input) scatter_input_grad(g, s.plans, s.grad_cols.data(), slabs, s.grad_padded.data());
    if (grad_offset || grad_mask) {
      offset_mask_grad(g, s.padded.data(), off_n, mask_n, s.grad_cols.data(), t0, count,
                       grad_offset ? grad_offset + n0 * 2 * G * K * P : nullptr,
                       grad_mask ? grad_mask + n0 * G * K * P : nullptr);
    }
  }
  if (grad_input) {
    for (std::int64_t j = 0; j < images; ++j) {
      unpad_grad_image(g, slabs, s.grad_padded.data(), j, grad_input + (n0 + j) * C * HW);
    }
  }
}

// Per-block weight-gradient partials (summed afterwards in block order) cost blocks x |weight|
// floats; above this the blocks run one after another, accumulating in place.
constexpr std::int64_t kPartialBudgetFloats = std::int64_t(16) << 20;

// grad_weight[o][c][kp] = sum over images n, in order, of partials[n][o][kp][c] (tap-major
// partials, `stride` floats apart): summed in place into partials[0] (contiguous), then
// reordered to the torchvision layout.
void sum_tap_major(const DeformConv2dGeometry& g, float* partials, std::int64_t images, std::int64_t stride,
                   float* grad_weight) {
  if (images > 1) {
    parallel_for(
        g.out_channels * g.group_in_channels() * g.taps(),
        [&](std::int64_t i0, std::int64_t i1) {
          for (std::int64_t n = 1; n < images; ++n) {
            const float* src = partials + n * stride;
            for (std::int64_t i = i0; i < i1; ++i) partials[i] += src[i];
          }
        },
        4096);
  }
  reorder_weights(g, partials, grad_weight, false);
}

}  // namespace

void deform_conv2d_backward(const DeformConv2dGeometry& g, const float* input, const float* offset, const float* mask,
                            const float* weight, const float* grad_output, float* grad_input, float* grad_offset,
                            float* grad_mask, float* grad_weight, float* grad_bias,
                            bool /*deterministic: always, see ops/deform_conv2d.h*/) {
  const std::int64_t P = g.out_pixels(), K = g.taps(), HW = g.in_pixels();
  const std::int64_t C = g.in_channels, O = g.out_channels, Cg = g.group_in_channels();
  const std::int64_t G = g.offset_groups;
  if (!mask) grad_mask = nullptr;
  if (grad_bias) {
    parallel_for(O, [&](std::int64_t o0, std::int64_t o1) {
      for (std::int64_t o = o0; o < o1; ++o) {
        // Pixel sums of large maps: double keeps them accurate; four interleaved partial sums
        // (combined in a fixed order) keep the adds from waiting on each other.
        double s[4] = {0.0, 0.0, 0.0, 0.0};
        for (std::int64_t n = 0; n < g.batch; ++n) {
          const float* row = grad_output + (n * O + o) * P;
          std::int64_t p = 0;
          for (; p + 4 <= P; p += 4) {
            for (int l = 0; l < 4; ++l) s[l] += row[p + l];
          }
          for (; p < P; ++p) s[0] += row[p];
        }
        grad_bias[o] = static_cast<float>((s[0] + s[1]) + (s[2] + s[3]));
      }
    });
  }
  const bool need_cols = grad_input || grad_offset || grad_mask;
  if (g.batch == 0 || P == 0 || (!need_cols && !grad_weight)) {
    // No output pixel: every wanted gradient is zero.
    if (grad_input) std::fill(grad_input, grad_input + g.batch * C * HW, 0.0f);
    if (grad_offset) std::fill(grad_offset, grad_offset + g.batch * 2 * G * K * P, 0.0f);
    if (grad_mask) std::fill(grad_mask, grad_mask + g.batch * G * K * P, 0.0f);
    if (grad_weight) std::fill(grad_weight, grad_weight + O * Cg * K, 0.0f);
    return;
  }
  const std::int64_t col_bytes = need_cols ? C * K * std::int64_t(sizeof(float)) : 0;
  const Blocking bl = make_blocking(g, PlanTile::bytes_per_pixel(g), col_bytes);
  const std::int64_t blocks = bl.blocks(g.batch), tile = bl.tile;
  const bool need_padded = grad_weight || grad_offset || grad_mask;
  const std::int64_t wsize = O * Cg * K;
  // The mode depends on the shapes only, never on the thread count, so the weight gradient's
  // summation order (hence its bits) is the same at any number of threads.
  const bool image_parallel =
      blocks >= 2 && (!grad_weight || blocks * wsize <= kPartialBudgetFloats) && !in_parallel_region();
  auto make = [&] { return BackwardScratch(g, bl, need_cols, need_padded, grad_input != nullptr); };
  AlignedBuffer<float> weight_tm(need_cols ? static_cast<size_t>(wsize) : 0);
  if (need_cols) reorder_weights(g, weight, weight_tm.data(), true);
  auto block = [&](std::int64_t b, float* target, BackwardScratch& s) {
    const std::int64_t n0 = b * bl.images;
    backward_block(g, n0, std::min(bl.images, g.batch - n0), input, offset, mask, weight_tm.data(), grad_output,
                   grad_input, grad_offset, grad_mask, target, tile, s);
  };
  if (!image_parallel) {
    // One block at a time, every kernel threaded; the (tap-major) weight gradient accumulates
    // block by block: block 0 into `acc`, the others into `partial`, added in block order.
    AlignedBuffer<float> acc(grad_weight ? static_cast<size_t>(wsize) : 0);
    AlignedBuffer<float> partial(grad_weight && blocks > 1 ? static_cast<size_t>(wsize) : 0);
    for_each_block<BackwardScratch>(blocks, false, make, [&](std::int64_t n, BackwardScratch& s) {
      float* target = grad_weight ? (n == 0 ? acc.data() : partial.data()) : nullptr;
      block(n, target, s);
      if (grad_weight && n > 0) {
        parallel_for(
            wsize,
            [&](std::int64_t i0, std::int64_t i1) {
              for (std::int64_t i = i0; i < i1; ++i) acc[static_cast<size_t>(i)] += partial[static_cast<size_t>(i)];
            },
            4096);
      }
    });
    if (grad_weight) sum_tap_major(g, acc.data(), 1, wsize, grad_weight);
    return;
  }
  AlignedBuffer<float> partials(grad_weight ? static_cast<size_t>(blocks * wsize) : 0);
  for_each_block<BackwardScratch>(blocks, true, make, [&](std::int64_t n, BackwardScratch& s) {
    block(n, grad_weight ? partials.data() + n * wsize : nullptr, s);
  });
  // Block order, the same summation as the sequential mode: ((w0 + w1) + w2) + ...
  if (grad_weight) sum_tap_major(g, partials.data(), blocks, wsize, grad_weight);
}

}  // namespace cpu
}  // namespace flexconv
