// What CPU grid_sample's forward (cpu/grid_sample.cc) and backward (cpu/grid_sample_backward.cc)
// share: each output pixel's sampling taps (corner indices and weights, math/grid_sample.h),
// computed once into a structure of arrays and reused for all channels; the split of pixels into
// blocks across threads; and the rule that sends images beyond L2 plane by plane.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/alloc.h"
#include "core/errors.h"
#include "core/isa.h"
#include "core/thread_pool.h"
#include "cpu/grid_sample_kernels.h"
#include "cpu/transpose.h"
#include "ops/grid_sample.h"

namespace flexconv {
namespace cpu {
namespace grid {

using math::GridMode;
using math::GridPadding;

// The sampling taps of one output pixel: up to four corners with weights (nearest: one).
struct Taps {
  std::int64_t idx[4];  // flat index within the input plane, or -1 when outside
  float w[4];
  // For the grid gradient (bilinear): the fractional parts and the d(pixel)/d(grid) factors.
  float tx, ty, gx_mult, gy_mult;
};

inline Taps make_taps(const GridSampleShape& s, float gx, float gy) {
  Taps t;
  const float ix = math::grid_source_index(gx, s.in_w, s.padding, s.align_corners, &t.gx_mult);
  const float iy = math::grid_source_index(gy, s.in_h, s.padding, s.align_corners, &t.gy_mult);
  if (s.mode == GridMode::Nearest) {
    const std::int64_t x = math::grid_nearest(ix), y = math::grid_nearest(iy);
    t.idx[0] = math::grid_in_bounds(y, x, s.in_h, s.in_w) ? y * s.in_w + x : -1;
    t.w[0] = 1.0f;
    for (int k = 1; k < 4; ++k) {
      t.idx[k] = -1;
      t.w[k] = 0.0f;
    }
    t.tx = t.ty = 0.0f;
    return t;
  }
  const math::GridBilinear b = math::grid_bilinear(iy, ix);
  t.tx = b.tx;
  t.ty = b.ty;
  const std::int64_t xs[4] = {b.x0, b.x0 + 1, b.x0, b.x0 + 1};
  const std::int64_t ys[4] = {b.y0, b.y0, b.y0 + 1, b.y0 + 1};
  const float ws[4] = {(1 - b.tx) * (1 - b.ty), b.tx * (1 - b.ty), (1 - b.tx) * b.ty, b.tx * b.ty};
  for (int k = 0; k < 4; ++k) {
    const bool in = math::grid_in_bounds(ys[k], xs[k], s.in_h, s.in_w);
    t.idx[k] = in ? ys[k] * s.in_w + xs[k] : -1;
    t.w[k] = in ? ws[k] : 0.0f;
  }
  return t;
}

// Output pixels per task: their taps (40 bytes each) stay in L1 while every channel runs.
constexpr std::int64_t kPixelBlock = 64;

// Calls fn(n, first pixel, pixel count) for every (batch, block of output pixels), in parallel.
template <typename Fn>
void for_each_pixel_block(const GridSampleShape& s, Fn&& fn) {
  const std::int64_t out_plane = s.out_h * s.out_w;
  const std::int64_t blocks = (out_plane + kPixelBlock - 1) / kPixelBlock;
  parallel_for(s.n * blocks, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t n = t / blocks, p0 = (t % blocks) * kPixelBlock;
      fn(n, p0, std::min(kPixelBlock, out_plane - p0));
    }
  });
}

// The taps of a range of output pixels (pixel j at [j] of every array) and, for the grid
// gradient, d(source index)/d(grid coordinate) per axis.
class TapTable {
 public:
  // Scratch from core/alloc.h, whose cache hands the same block back call after call (no page
  // faults for a fresh table in a training loop); fill() writes every pixel's fields.
  explicit TapTable(std::int64_t pixels)
      : pixels_(pixels), idx_(static_cast<size_t>(4 * pixels)), fields_(static_cast<size_t>(8 * pixels)) {}

  // Every pixel's taps from its grid point (x, y pairs from `grid` on).
  void fill(const GridSampleShape& s, const float* grid) {
    parallel_for(
        pixels_,
        [&](std::int64_t b, std::int64_t e) {
          for (std::int64_t j = b; j < e; ++j) set(j, make_taps(s, grid[2 * j], grid[2 * j + 1]));
        },
        256);
  }

  // The kernels' view from pixel j on.
  GridTaps at(std::int64_t j) const {
    GridTaps t;
    for (int k = 0; k < 4; ++k) {
      t.idx[k] = idx_.data() + k * pixels_ + j;
      t.w[k] = fields_.data() + (kWeights + k) * pixels_ + j;
    }
    t.tx = fields_.data() + kTx * pixels_ + j;
    t.ty = fields_.data() + kTy * pixels_ + j;
    return t;
  }

  std::int32_t idx(int k, std::int64_t j) const { return idx_[static_cast<size_t>(k * pixels_ + j)]; }
  float w(int k, std::int64_t j) const { return field(kWeights + k, j); }
  float gx_mult(std::int64_t j) const { return field(kGxMult, j); }
  float gy_mult(std::int64_t j) const { return field(kGyMult, j); }

 private:
  // The float fields, each an array of pixels_ floats: the four weights, then these.
  static constexpr int kWeights = 0, kTx = 4, kTy = 5, kGxMult = 6, kGyMult = 7;

  float field(int f, std::int64_t j) const { return fields_[static_cast<size_t>(f * pixels_ + j)]; }
  float& field(int f, std::int64_t j) { return fields_[static_cast<size_t>(f * pixels_ + j)]; }

  void set(std::int64_t j, const Taps& t) {
    for (int k = 0; k < 4; ++k) {
      idx_[static_cast<size_t>(k * pixels_ + j)] = static_cast<std::int32_t>(t.idx[k]);
      field(kWeights + k, j) = t.w[k];
    }
    field(kTx, j) = t.tx;
    field(kTy, j) = t.ty;
    field(kGxMult, j) = t.gx_mult;
    field(kGyMult, j) = t.gy_mult;
  }

  std::int64_t pixels_;
  AlignedBuffer<std::int32_t> idx_;  // [corner][pixel], -1 outside the plane
  AlignedBuffer<float> fields_;      // [field][pixel]
};

// The tables hold 32-bit plane indices.
inline void check_plane_size(const GridSampleShape& s, const char* fn) {
  if (s.in_h * s.in_w >= (std::int64_t{1} << 31)) {
    throw Error(ErrorCode::InvalidArgument, std::string(fn) +
                                                ": expected input planes below 2^31 pixels but received " +
                                                std::to_string(s.in_h) + "x" + std::to_string(s.in_w));
  }
}

// Images whose planes together exceed this (bytes) run plane by plane: a block of pixels
// sampling all channels would then fetch each plane's lines from memory once per block (for
// scattered grids, every block touches most lines of every plane).
constexpr std::int64_t kPlaneMajorImageBytes = 1 << 20;

// Whether the image's planes together exceed L2 (kPlaneMajorImageBytes): such images run
// plane by plane.
inline bool plane_major(const GridSampleShape& s) {
  return s.c * s.in_h * s.in_w * static_cast<std::int64_t>(sizeof(float)) > kPlaneMajorImageBytes;
}

// Channels from which grid_sample runs channels-last (the forward and backward: whole vectors of
// channels per corner, after transposing to NHWC).
constexpr std::int64_t kChannelsLastMin = 16;

// [rows][cols] -> [cols][rows] for `count` matrices one after another, threads over (matrix, range
// of the longer side: the pixels, whether they are the rows or the columns).
inline void transpose_matrices(const float* src, float* dst, std::int64_t count, std::int64_t rows, std::int64_t cols) {
  const auto transpose = FLEXCONV_PICK_ISA(transpose_block);
  constexpr std::int64_t kPerTask = 256;
  const bool by_cols = cols >= rows;
  const std::int64_t side = by_cols ? cols : rows, tasks_per_matrix = (side + kPerTask - 1) / kPerTask;
  parallel_for(count * tasks_per_matrix, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t m = t / tasks_per_matrix, first = (t % tasks_per_matrix) * kPerTask;
      const std::int64_t n = std::min(kPerTask, side - first);
      const float* a = src + m * rows * cols;
      float* b = dst + m * rows * cols;
      if (by_cols) {
        transpose(a + first, cols, b + first * rows, rows, rows, n);
      } else {
        transpose(a + first * cols, cols, b + first, rows, n, cols);
      }
    }
  });
}

}  // namespace grid
}  // namespace cpu
}  // namespace flexconv
