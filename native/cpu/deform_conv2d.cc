// Deformable convolution on the CPU: a fused implicit GEMM.
//
// Per image, the input is copied once into planes with a one-pixel zero border; output
// pixels are then processed in tiles. For a tile, the sampling plan (the padded index of the
// top-left corner + 4 weights with the mask folded in, math/bilinear.h) is computed once per
// (offset group, kernel tap, output pixel) and reused by every input channel of the offset
// group: the GEMM's B source packs bilinear samples straight from the padded input into the
// driver's packed panels (cpu/deform_sample.h, AVX-512 / AVX2 gathers), so no column buffer
// for the image ever exists. The zero border makes out-of-image corners read 0, which is the
// torchvision / ONNX boundary rule without a branch. The tile size bounds the plan (and, in
// backward, the column-gradient tile) to a few MB.
//
// Backward, per tile:
//   grad_weight += grad_out_tile x columns_tile^T, the columns re-sampled by a transposed
//     packer (rows = pixels, cols = (channel, tap)); the GEMM driver gives each C element to
//     one task with a fixed summation order, so this is deterministic.
//   grad_columns = W^T x grad_out_tile (a plain GEMM), then
//     grad_input: scattered through the plan into zero-bordered planes (the border collects
//       the out-of-image corners and is dropped), threads split by input channel (each
//       thread owns whole planes; no two threads write one address; fixed order within one);
//     grad_offset / grad_mask: per (offset group, tap, pixel), reduced over the offset
//       group's channels in channel order by the one thread owning that pixel chunk
//       (cpu/deform_offset_grad.h).
#include "cpu/deform_conv2d.h"

#include <algorithm>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <memory>
#include <vector>

#include "core/alloc.h"
#include "core/thread_pool.h"
#include "cpu/gemm/gemm.h"
#include "cpu/deform_channels_last.h"
#include "cpu/deform_offset_grad.h"
#include "cpu/deform_sample.h"
#include "math/bilinear.h"

namespace flexconv {
namespace cpu {
namespace {

using math::DeformConv2dGeometry;

constexpr std::int64_t kPlanBudgetBytes = std::int64_t(3) << 20;     // sampling plans of a tile
constexpr std::int64_t kColumnBudgetBytes = std::int64_t(6) << 20;   // backward column gradients
constexpr std::int64_t kMinTile = 64;

std::int64_t tile_pixels(std::int64_t pixels, std::int64_t bytes_per_pixel, std::int64_t budget) {
  std::int64_t t = std::max<std::int64_t>(kMinTile, budget / std::max<std::int64_t>(1, bytes_per_pixel));
  return std::min(pixels, t);
}

// The sampling coordinate of tap kp of offset group og at output pixel p (image-local data).
struct PointGeometry {
  const DeformConv2dGeometry& g;
  const float* offset;  // this image's offsets
  const float* mask;    // this image's mask or null

  void point(std::int64_t og, std::int64_t kp, std::int64_t p, float* y, float* x, float* m) const {
    const std::int64_t P = g.out_pixels(), K = g.taps();
    const std::int64_t oy = p / g.out_w, ox = p - oy * g.out_w;
    const std::int64_t i = kp / g.kernel_w, j = kp - i * g.kernel_w;
    const float* off = offset + (og * 2 * K + 2 * kp) * P + p;
    *y = math::deform_base_coord(oy, g.stride_h, g.pad_h, i, g.dil_h) + off[0];
    *x = math::deform_base_coord(ox, g.stride_w, g.pad_w, j, g.dil_w) + off[P];
    *m = mask ? mask[(og * K + kp) * P + p] : 1.0f;
  }
};

// Plans for (offset group, tap, pixel in [t0, t0 + count)) against zero-padded planes,
// structure of arrays [og][tap][pixel] (weights in (left, right) pairs, see deform_sample.h)
// so the sampler loads 16 pixels' plans at once.
class PlanTile {
 public:
  PlanTile(const DeformConv2dGeometry& g, std::int64_t capacity)
      : g_(g), capacity_(capacity), size_(g.offset_groups * g.taps() * capacity),
        index_(static_cast<size_t>(size_)), weight_(static_cast<size_t>(4 * size_)) {}

  static std::int64_t bytes_per_pixel(const DeformConv2dGeometry& g) {
    return g.offset_groups * g.taps() * std::int64_t(5 * sizeof(float));
  }

  void build(const float* offset, const float* mask, std::int64_t t0, std::int64_t count) {
    count_ = count;
    const PointGeometry geo{g_, offset, mask};
    const std::int64_t rows = g_.offset_groups * g_.taps();
    parallel_for(
        rows * count,
        [&](std::int64_t begin, std::int64_t end) {
          for (std::int64_t it = begin; it < end; ++it) {
            const std::int64_t row = it / count, pix = it - row * count;
            float y, x, m;
            geo.point(row / g_.taps(), row % g_.taps(), t0 + pix, &y, &x, &m);
            const math::BilinearPaddedPlan p = math::bilinear_padded_plan(y, x, m, g_.in_h, g_.in_w);
            const std::int64_t at = row * capacity_ + pix;
            index_[static_cast<size_t>(at)] = p.index;
            float* w01 = weight_.data() + 2 * at;
            float* w23 = weight_.data() + 2 * size_ + 2 * at;
            w01[0] = p.weight[0];
            w01[1] = p.weight[1];
            w23[0] = p.weight[2];
            w23[1] = p.weight[3];
          }
        },
        256);
  }

  // The plan row of (og, kp) from pixel `from` of the tile, over one padded plane.
  SampleRow row(const float* padded_plane, std::int64_t og, std::int64_t kp, std::int64_t from) const {
    const std::int64_t at = (og * g_.taps() + kp) * capacity_ + from;
    const float* w = weight_.data();
    return SampleRow{padded_plane, g_.in_w + 2, index_.data() + at, w + 2 * at, w + 2 * size_ + 2 * at};
  }
  // The plan row of (og, kp) from pixel `from` of the tile (indexes count padded pixels).
  PlanRow plan(std::int64_t og, std::int64_t kp, std::int64_t from) const {
    const std::int64_t at = (og * g_.taps() + kp) * capacity_ + from;
    const float* w = weight_.data();
    return PlanRow{index_.data() + at, w + 2 * at, w + 2 * size_ + 2 * at};
  }
  std::int64_t count() const { return count_; }

 private:
  const DeformConv2dGeometry& g_;
  std::int64_t capacity_, size_;
  std::int64_t count_ = 0;
  AlignedBuffer<std::int32_t> index_;
  AlignedBuffer<float> weight_;
};

std::int64_t padded_plane_size(const DeformConv2dGeometry& g) { return (g.in_h + 2) * (g.in_w + 2); }

// Copies one image into planes with a one-pixel zero border (see bilinear_padded_plan).
void pad_image(const DeformConv2dGeometry& g, const float* in_n, float* padded) {
  const std::int64_t H = g.in_h, W = g.in_w, Wp = W + 2, HWp = padded_plane_size(g);
  parallel_for(g.in_channels, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      float* dst = padded + c * HWp;
      const float* src = in_n + c * H * W;
      std::fill(dst, dst + Wp, 0.0f);
      for (std::int64_t y = 0; y < H; ++y) {
        float* row = dst + (y + 1) * Wp;
        row[0] = 0.0f;
        std::memcpy(row + 1, src + y * W, static_cast<size_t>(W) * sizeof(float));
        row[W + 1] = 0.0f;
      }
      std::fill(dst + (H + 1) * Wp, dst + HWp, 0.0f);
    }
  });
}

// The virtual column matrix of one group for one tile: rows (channel of the group, tap),
// columns the tile's pixels. Packs B panels for out = W x columns.
class DeformColumns final : public gemm::BSource {
 public:
  DeformColumns(const DeformConv2dGeometry& g, const PlanTile& plans, const float* padded, std::int64_t c_begin)
      : g_(g), plans_(plans), padded_(padded), c_begin_(c_begin) {}

  void pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const override {
    const std::int64_t K = g_.taps(), HWp = padded_plane_size(g_), cog = g_.offset_group_channels();
    SampleRow stack_rows[256];  // the driver's depth block is 256 rows; deeper blocks use the heap
    std::vector<SampleRow> heap_rows(kc > 256 ? static_cast<size_t>(kc) : 0);
    SampleRow* rows = kc > 256 ? heap_rows.data() : stack_rows;
    std::int64_t c = c_begin_ + k0 / K, kp = k0 % K;
    for (std::int64_t kk = 0; kk < kc; ++kk) {
      rows[kk] = plans_.row(padded_ + c * HWp, c / cog, kp, n0);
      if (++kp == K) {
        kp = 0;
        ++c;
      }
    }
    sample_block(rows, kc, nc, nr, dst);
  }

 private:
  const DeformConv2dGeometry& g_;
  const PlanTile& plans_;
  const float* padded_;
  std::int64_t c_begin_;
};

// The transposed column matrix: rows the tile's pixels, columns (channel of the group, tap).
// Packs B panels for grad_weight = grad_out x columns^T.
class DeformColumnsT final : public gemm::BSource {
 public:
  DeformColumnsT(const DeformConv2dGeometry& g, const PlanTile& plans, const float* padded, std::int64_t c_begin)
      : g_(g), plans_(plans), padded_(padded), c_begin_(c_begin) {}

  void pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const override {
    const std::int64_t K = g_.taps(), HWp = padded_plane_size(g_), cog = g_.offset_group_channels();
    float column[256];  // kc <= the driver's depth block (256)
    for (std::int64_t p0 = 0; p0 < nc; p0 += nr) {
      float* panel = dst + (p0 / nr) * kc * nr;
      for (int j = 0; j < nr; ++j) {
        if (p0 + j >= nc) {
          for (std::int64_t kk = 0; kk < kc; ++kk) panel[kk * nr + j] = 0.0f;
          continue;
        }
        const std::int64_t col = n0 + p0 + j;
        const std::int64_t c = c_begin_ + col / K, kp = col % K;
        for (std::int64_t k = 0; k < kc; k += 256) {
          const std::int64_t len = std::min<std::int64_t>(256, kc - k);
          sample_row_panels(plans_.row(padded_ + c * HWp, c / cog, kp, k0 + k), len, static_cast<int>(len), 0, column);
          for (std::int64_t kk = 0; kk < len; ++kk) panel[(k + kk) * nr + j] = column[kk];
        }
      }
    }
  }

 private:
  const DeformConv2dGeometry& g_;
  const PlanTile& plans_;
  const float* padded_;
  std::int64_t c_begin_;
};

// Floats of one image's channels-last zero-bordered copy (plus the vector kernels' slack).
std::int64_t padded_cl_size(const DeformConv2dGeometry& g) {
  return padded_plane_size(g) * g.in_channels + kPaddedSlack;
}

// Copies one NCHW image into a channels-last buffer with a one-pixel zero border:
// padded[(yp * (W+2) + xp) * C + c]. Threads split padded rows.
void pad_image_cl(const DeformConv2dGeometry& g, const float* in_n, float* padded) {
  const std::int64_t H = g.in_h, W = g.in_w, Wp = W + 2, C = g.in_channels, HW = H * W;
  parallel_for(H + 2, [&](std::int64_t y0, std::int64_t y1) {
    for (std::int64_t yp = y0; yp < y1; ++yp) {
      float* row = padded + yp * Wp * C;
      if (yp == 0 || yp == H + 1) {
        std::fill(row, row + Wp * C, 0.0f);
        continue;
      }
      std::fill(row, row + C, 0.0f);
      std::fill(row + (W + 1) * C, row + Wp * C, 0.0f);
      const float* src = in_n + (yp - 1) * W;
      float* dst = row + C;
      // Blocks of 8 channels: each source row segment is read contiguously while the writes
      // stay within a few cache lines per pixel.
      for (std::int64_t c0 = 0; c0 < C; c0 += 8) {
        const std::int64_t c1 = std::min(C, c0 + 8);
        for (std::int64_t x = 0; x < W; ++x) {
          float* d = dst + x * C;
          for (std::int64_t c = c0; c < c1; ++c) d[c] = src[c * HW + x];
        }
      }
    }
  });
  std::fill(padded + padded_plane_size(g) * C, padded + padded_cl_size(g), 0.0f);
}

// The weights of one group as the GEMM's A with depth ordered (tap, channel):
// A[o][kp * Cg + c] = weight[o][c][kp]. Packed straight from the torchvision layout.
class TapMajorWeights final : public gemm::ASource {
 public:
  TapMajorWeights(const float* weight_g, std::int64_t cg, std::int64_t taps) : w_(weight_g), cg_(cg), taps_(taps) {}

  void pack(std::int64_t m0, std::int64_t mc, std::int64_t k0, std::int64_t kc, int mr, float* dst) const override {
    const std::int64_t row_len = cg_ * taps_;
    for (std::int64_t p = 0; p < mc; p += mr) {
      float* panel = dst + (p / mr) * kc * mr;
      const std::int64_t rows = std::min<std::int64_t>(mr, mc - p);
      for (std::int64_t kk = 0; kk < kc; ++kk) {
        const std::int64_t k = k0 + kk, kp = k / cg_, c = k - kp * cg_;
        const float* src = w_ + (m0 + p) * row_len + c * taps_ + kp;
        float* out = panel + kk * mr;
        for (std::int64_t r = 0; r < rows; ++r) out[r] = src[r * row_len];
        for (std::int64_t r = rows; r < mr; ++r) out[r] = 0.0f;
      }
    }
  }

 private:
  const float* w_;
  std::int64_t cg_, taps_;
};

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
    for_each_tap_run(g_, c_begin_, k0, kc, [&](std::int64_t kp, std::int64_t og, std::int64_t c, std::int64_t n, std::int64_t row) {
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
  ForwardScratch(const DeformConv2dGeometry& g, std::int64_t tile)
      : plans(g, tile), padded(static_cast<size_t>(padded_cl_size(g))) {}
  PlanTile plans;
  AlignedBuffer<float> padded;
};

void forward_image(const DeformConv2dGeometry& g, std::int64_t n, const float* input, const float* offset,
                   const float* mask, const float* weight, const float* bias, float* output, std::int64_t tile,
                   ForwardScratch& scratch) {
  const std::int64_t P = g.out_pixels(), K = g.taps(), HW = g.in_pixels();
  const std::int64_t C = g.in_channels, O = g.out_channels, Cg = g.group_in_channels(), Og = g.group_out_channels();
  const std::int64_t G = g.offset_groups;
  const float* off_n = offset + n * 2 * G * K * P;
  const float* mask_n = mask ? mask + n * G * K * P : nullptr;
  float* out_n = output + n * O * P;
  pad_image_cl(g, input + n * C * HW, scratch.padded.data());
  for (std::int64_t t0 = 0; t0 < P; t0 += tile) {
    const std::int64_t count = std::min(tile, P - t0);
    scratch.plans.build(off_n, mask_n, t0, count);
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      float* c_out = out_n + grp * Og * P + t0;
      float beta = 0.0f;
      if (bias) {
        for (std::int64_t o = 0; o < Og; ++o) std::fill(c_out + o * P, c_out + o * P + count, bias[grp * Og + o]);
        beta = 1.0f;
      }
      TapMajorWeights a(weight + grp * Og * Cg * K, Cg, K);
      DeformColumnsCL b(g, scratch.plans, scratch.padded.data(), grp * Cg);
      gemm::gemm(Og, count, Cg * K, 1.0f, a, b, beta, c_out, P);
    }
  }
}

// Runs fn(n, scratch) for every image: one image per task (each task's kernels and GEMMs run
// inline on its thread: one parallel region per call instead of several per image) when
// there are enough images to feed the threads, else image by image with every kernel
// threaded. Each image's arithmetic is the same either way.
template <typename Scratch, typename MakeScratch, typename Fn>
void for_each_image(std::int64_t batch, bool image_parallel, MakeScratch make, Fn fn) {
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

void deform_conv2d_forward(const DeformConv2dGeometry& g, const float* input, const float* offset,
                           const float* mask, const float* weight, const float* bias, float* output) {
  if (g.batch == 0 || g.out_channels == 0 || g.out_pixels() == 0) return;
  const std::int64_t tile = tile_pixels(g.out_pixels(), PlanTile::bytes_per_pixel(g), kPlanBudgetBytes);
  // Whole images per thread when they balance (a multiple of the thread count, or enough that
  // the remainder hardly matters); otherwise each image's kernels are threaded.
  const std::int64_t threads = num_threads();
  const bool image_parallel =
      threads > 1 && (g.batch % threads == 0 || g.batch >= 4 * threads) && !in_parallel_region();
  for_each_image<ForwardScratch>(
      g.batch, image_parallel, [&] { return ForwardScratch(g, tile); },
      [&](std::int64_t n, ForwardScratch& scratch) {
        forward_image(g, n, input, offset, mask, weight, bias, output, tile, scratch);
      });
}

namespace {

// grad_input of one image for one tile, into zero-padded planes (the border cells collect
// the gradients of out-of-image corners and are dropped): each thread owns whole channels.
// L channels of one offset group at once: the plan is loaded once for all of them and their
// read-modify-write chains (neighbouring samples hit neighbouring addresses) are independent,
// so they overlap. Each plane still receives its updates in the same order as with L = 1.
template <int L>
void scatter_channels(const SampleRow& r, std::int64_t Wp, float* const* planes, const float* const* gcs,
                      std::int64_t count) {
  for (std::int64_t p = 0; p < count; ++p) {
    const std::int32_t i = r.index[p];
    const float a0 = r.w01[2 * p], a1 = r.w01[2 * p + 1], b0 = r.w23[2 * p], b1 = r.w23[2 * p + 1];
#if defined(__SSE2__)
    const __m128 w01 = _mm_setr_ps(a0, a1, 0.0f, 0.0f), w23 = _mm_setr_ps(b0, b1, 0.0f, 0.0f);
    for (int l = 0; l < L; ++l) {
      const __m128 v = _mm_set1_ps(gcs[l][p]);
      double* top = reinterpret_cast<double*>(planes[l] + i);
      double* bot = reinterpret_cast<double*>(planes[l] + i + Wp);
      _mm_storel_pd(top, _mm_castps_pd(_mm_add_ps(_mm_castpd_ps(_mm_load_sd(top)), _mm_mul_ps(w01, v))));
      _mm_storel_pd(bot, _mm_castps_pd(_mm_add_ps(_mm_castpd_ps(_mm_load_sd(bot)), _mm_mul_ps(w23, v))));
    }
#else
    for (int l = 0; l < L; ++l) {
      const float v = gcs[l][p];
      float* at = planes[l] + i;
      at[0] += a0 * v;
      at[1] += a1 * v;
      at[Wp] += b0 * v;
      at[Wp + 1] += b1 * v;
    }
#endif
  }
}

void scatter_input_grad(const DeformConv2dGeometry& g, const PlanTile& plans, const float* grad_cols,
                        float* grad_padded) {
  constexpr int kLanes = 4;
  const std::int64_t K = g.taps(), HWp = padded_plane_size(g), Wp = g.in_w + 2, cog = g.offset_group_channels();
  const std::int64_t count = plans.count();
  parallel_for(g.in_channels, [&](std::int64_t c_begin, std::int64_t c_end) {
    for (std::int64_t c = c_begin; c < c_end;) {
      const std::int64_t og = c / cog;
      const bool wide = c + kLanes <= c_end && (c + kLanes - 1) / cog == og;
      const int lanes = wide ? kLanes : 1;
      float* planes[kLanes];
      const float* gcs[kLanes];
      for (std::int64_t kp = 0; kp < K; ++kp) {
        for (int l = 0; l < lanes; ++l) {
          planes[l] = grad_padded + (c + l) * HWp;
          gcs[l] = grad_cols + ((c + l) * K + kp) * count;
        }
        const SampleRow r = plans.row(planes[0], og, kp, 0);
        if (wide) {
          scatter_channels<kLanes>(r, Wp, planes, gcs, count);
        } else {
          scatter_channels<1>(r, Wp, planes, gcs, count);
        }
      }
      c += lanes;
    }
  });
}

void unpad_image(const DeformConv2dGeometry& g, const float* padded, float* out_n) {
  const std::int64_t H = g.in_h, W = g.in_w, Wp = W + 2, HWp = padded_plane_size(g);
  parallel_for(g.in_channels, [&](std::int64_t c0, std::int64_t c1) {
    for (std::int64_t c = c0; c < c1; ++c) {
      for (std::int64_t y = 0; y < H; ++y) {
        std::memcpy(out_n + (c * H + y) * W, padded + c * HWp + (y + 1) * Wp + 1, static_cast<size_t>(W) * sizeof(float));
      }
    }
  });
}

// grad_offset / grad_mask of one image for pixels [t0, t0 + count): each task owns a chunk
// of pixels of one (offset group, tap) and sums over the group's channels in order, reading
// the zero-padded input (accumulate_offset_grad, deform_offset_grad.h).
void offset_mask_grad(const DeformConv2dGeometry& g, const float* padded, const float* off_n, const float* mask_n,
                      const float* grad_cols, std::int64_t t0, std::int64_t count, float* grad_off_n,
                      float* grad_mask_n) {
  constexpr std::int64_t kChunk = 128;
  const std::int64_t K = g.taps(), HWp = padded_plane_size(g), P = g.out_pixels(), cog = g.offset_group_channels();
  const std::int64_t chunks = (count + kChunk - 1) / kChunk;
  const PointGeometry geo{g, off_n, mask_n};
  parallel_for(g.offset_groups * K * chunks, [&](std::int64_t begin, std::int64_t end) {
    alignas(64) std::int32_t index[kChunk];
    alignas(64) float coef[6][2 * kChunk];  // value / dy / dx coefficient pairs, top and bottom
    alignas(64) float m[kChunk], gy[kChunk], gx[kChunk], gm[kChunk];
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t row = task / chunks, chunk = task - row * chunks;
      const std::int64_t og = row / K, kp = row - og * K;
      const std::int64_t p0 = chunk * kChunk, len = std::min(kChunk, count - p0);
      for (std::int64_t j = 0; j < len; ++j) {
        float y, x;
        geo.point(og, kp, t0 + p0 + j, &y, &x, &m[j]);
        const math::BilinearPaddedPoint q = math::bilinear_padded_point(y, x, g.in_h, g.in_w);
        index[j] = q.index;
        const float ly = q.valid ? q.ly : 0.0f, hy = q.valid ? 1.0f - q.ly : 0.0f;
        const float lx = q.valid ? q.lx : 0.0f, hx = q.valid ? 1.0f - q.lx : 0.0f;
        const float pairs[6][2] = {{hy * hx, hy * lx}, {ly * hx, ly * lx}, {-hx, -lx}, {hx, lx}, {-hy, hy}, {-ly, ly}};
        for (int a = 0; a < 6; ++a) {
          coef[a][2 * j] = pairs[a][0];
          coef[a][2 * j + 1] = pairs[a][1];
        }
        gy[j] = gx[j] = gm[j] = 0.0f;
      }
      const OffsetGradPoints pts{index, coef[0], coef[1], coef[2], coef[3], coef[4], coef[5], len};
      for (std::int64_t c = og * cog; c < (og + 1) * cog; ++c) {
        accumulate_offset_grad(pts, padded + c * HWp, g.in_w + 2, grad_cols + (c * K + kp) * count + p0, gy, gx, gm);
      }
      for (std::int64_t j = 0; j < len; ++j) {
        const std::int64_t p = t0 + p0 + j;
        if (grad_off_n) {
          grad_off_n[(og * 2 * K + 2 * kp) * P + p] = gy[j] * m[j];
          grad_off_n[(og * 2 * K + 2 * kp + 1) * P + p] = gx[j] * m[j];
        }
        if (grad_mask_n) grad_mask_n[(og * K + kp) * P + p] = gm[j];
      }
    }
  });
}

}  // namespace

namespace {

struct BackwardScratch {
  BackwardScratch(const DeformConv2dGeometry& g, std::int64_t tile, bool need_cols, bool need_padded, bool need_grad_in)
      : plans(g, tile),
        grad_cols(need_cols ? static_cast<size_t>(g.in_channels * g.taps() * tile) : 0),
        padded(need_padded ? static_cast<size_t>(g.in_channels * padded_plane_size(g)) : 0),
        grad_padded(need_grad_in ? static_cast<size_t>(g.in_channels * padded_plane_size(g)) : 0) {}
  BackwardScratch(BackwardScratch&&) = default;
  PlanTile plans;
  AlignedBuffer<float> grad_cols, padded, grad_padded;
};

// Every gradient of image n except grad_bias; grad_weight_n receives this image's weight
// gradient (overwritten).
void backward_image(const DeformConv2dGeometry& g, std::int64_t n, const float* input, const float* offset,
                    const float* mask, const float* weight, const float* grad_output, float* grad_input,
                    float* grad_offset, float* grad_mask, float* grad_weight_n, std::int64_t tile,
                    BackwardScratch& s) {
  const std::int64_t P = g.out_pixels(), K = g.taps(), HW = g.in_pixels();
  const std::int64_t C = g.in_channels, O = g.out_channels, Cg = g.group_in_channels(), Og = g.group_out_channels();
  const std::int64_t G = g.offset_groups;
  const bool need_cols = grad_input || grad_offset || grad_mask;
  const float* in_n = input + n * C * HW;
  const float* off_n = offset + n * 2 * G * K * P;
  const float* mask_n = mask ? mask + n * G * K * P : nullptr;
  const float* gout_n = grad_output + n * O * P;
  if (s.padded.size()) pad_image(g, in_n, s.padded.data());
  if (grad_input) std::fill(s.grad_padded.data(), s.grad_padded.data() + s.grad_padded.size(), 0.0f);
  for (std::int64_t t0 = 0; t0 < P; t0 += tile) {
    const std::int64_t count = std::min(tile, P - t0);
    s.plans.build(off_n, mask_n, t0, count);
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      const float* gout_g = gout_n + grp * Og * P + t0;
      if (grad_weight_n) {
        gemm::MatrixA a(gout_g, P, false);
        DeformColumnsT b(g, s.plans, s.padded.data(), grp * Cg);
        gemm::gemm(Og, Cg * K, count, 1.0f, a, b, t0 == 0 ? 0.0f : 1.0f, grad_weight_n + grp * Og * Cg * K, Cg * K);
      }
      if (need_cols) {
        gemm::MatrixA a(weight + grp * Og * Cg * K, Cg * K, true);
        gemm::MatrixB b(gout_g, P, false);
        gemm::gemm(Cg * K, count, Og, 1.0f, a, b, 0.0f, s.grad_cols.data() + grp * Cg * K * count, count);
      }
    }
    if (grad_input) scatter_input_grad(g, s.plans, s.grad_cols.data(), s.grad_padded.data());
    if (grad_offset || grad_mask) {
      offset_mask_grad(g, s.padded.data(), off_n, mask_n, s.grad_cols.data(), t0, count,
                       grad_offset ? grad_offset + n * 2 * G * K * P : nullptr,
                       grad_mask ? grad_mask + n * G * K * P : nullptr);
    }
  }
  if (grad_input) unpad_image(g, s.grad_padded.data(), grad_input + n * C * HW);
}

// Per-image weight-gradient partials (summed afterwards in image order) cost batch x |weight|
// floats; above this the images run one after another, accumulating in place.
constexpr std::int64_t kPartialBudgetFloats = std::int64_t(16) << 20;

}  // namespace

void deform_conv2d_backward(const DeformConv2dGeometry& g, const float* input, const float* offset,
                            const float* mask, const float* weight, const float* grad_output,
                            float* grad_input, float* grad_offset, float* grad_mask, float* grad_weight,
                            float* grad_bias) {
  const std::int64_t P = g.out_pixels(), K = g.taps(), HW = g.in_pixels();
  const std::int64_t C = g.in_channels, O = g.out_channels, Cg = g.group_in_channels();
  const std::int64_t G = g.offset_groups;
  if (!mask) grad_mask = nullptr;
  if (grad_bias) {
    parallel_for(O, [&](std::int64_t o0, std::int64_t o1) {
      for (std::int64_t o = o0; o < o1; ++o) {
        double s = 0.0;  // pixel sums of large maps: double keeps them accurate
        for (std::int64_t n = 0; n < g.batch; ++n) {
          const float* row = grad_output + (n * O + o) * P;
          for (std::int64_t p = 0; p < P; ++p) s += row[p];
        }
        grad_bias[o] = static_cast<float>(s);
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
  const std::int64_t tile = std::min(tile_pixels(P, PlanTile::bytes_per_pixel(g), kPlanBudgetBytes),
                                     need_cols ? tile_pixels(P, col_bytes, kColumnBudgetBytes) : P);
  const bool need_padded = grad_weight || grad_offset || grad_mask;
  const std::int64_t wsize = O * Cg * K;
  // The mode depends on the shapes only, never on the thread count, so the weight gradient's
  // summation order (hence its bits) is the same at any number of threads.
  const bool image_parallel = g.batch >= 2 && (!grad_weight || g.batch * wsize <= kPartialBudgetFloats) &&
                              !in_parallel_region();
  auto make = [&] { return BackwardScratch(g, tile, need_cols, need_padded, grad_input != nullptr); };
  if (!image_parallel) {
    // One image at a time, every kernel threaded; the weight gradient accumulates image by
    // image into a scratch partial (for image 0, straight into grad_weight).
    AlignedBuffer<float> partial(grad_weight && g.batch > 1 ? static_cast<size_t>(wsize) : 0);
    for_each_image<BackwardScratch>(g.batch, false, make, [&](std::int64_t n, BackwardScratch& s) {
      float* target = grad_weight ? (n == 0 ? grad_weight : partial.data()) : nullptr;
      backward_image(g, n, input, offset, mask, weight, grad_output, grad_input, grad_offset, grad_mask, target, tile, s);
      if (grad_weight && n > 0) {
        parallel_for(wsize, [&](std::int64_t i0, std::int64_t i1) {
          for (std::int64_t i = i0; i < i1; ++i) grad_weight[i] += partial[static_cast<size_t>(i)];
        }, 4096);
      }
    });
    return;
  }
  AlignedBuffer<float> partials(grad_weight ? static_cast<size_t>(g.batch * wsize) : 0);
  for_each_image<BackwardScratch>(g.batch, true, make, [&](std::int64_t n, BackwardScratch& s) {
    backward_image(g, n, input, offset, mask, weight, grad_output, grad_input, grad_offset, grad_mask,
                   grad_weight ? partials.data() + n * wsize : nullptr, tile, s);
  });
  if (grad_weight) {
    // Image order, the same summation as the sequential mode: ((w0 + w1) + w2) + ...
    parallel_for(wsize, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) {
        float acc = partials[static_cast<size_t>(i)];
        for (std::int64_t n = 1; n < g.batch; ++n) acc += partials[static_cast<size_t>(n * wsize + i)];
        grad_weight[i] = acc;
      }
    }, 4096);
  }
}

}  // namespace cpu
}  // namespace flexconv
