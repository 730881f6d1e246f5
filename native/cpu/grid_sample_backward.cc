// CPU grid_sample's backward, in two passes so that every written element has one owner: the
// input gradient by (batch, channels) (each thread scatters into its own planes), the grid
// gradient by (batch, block of output pixels) (each pixel's sum over the channels in a fixed
// order, whatever the threads). From 16 channels it runs channels-last
// (backward_channels_last: whole vectors of channels per corner); fewer channels plane by plane
// (backward_planes). The taps are computed once and shared by both passes
// (cpu/grid_sample_taps.h).
#include <algorithm>
#include <cstring>

#include "core/isa.h"
#include "cpu/grid_sample_taps.h"
#include "ops/grid_sample.h"

namespace flexconv {
namespace cpu {
namespace {

using grid::check_plane_size;
using grid::for_each_pixel_block;
using grid::GridMode;
using grid::kChannelsLastMin;
using grid::plane_major;
using grid::TapTable;
using grid::transpose_matrices;

// The backward with the channels of each pixel contiguous (dy and, for the grid gradient, the
// input transposed to NHWC): the input gradient's scatter adds whole vectors of channels per
// corner (threads over blocks of channels, so each element still sums its pixels in order,
// whatever the threads), and each pixel's grid gradient reads its corners as vectors instead of
// gathering one element per channel (threads over pixels). The scalar scatter, one element per
// corner per channel, took half the backward of N8 C64 32x32; vectorised across pixels (tried
// before) it lost to conflicts between pixels sharing corners. Forward + backward now take
// 0.6-0.75x the time (N8 C64 32x32, N8 C128 16x16, N1 C256 64x64, N8 C16 32x32), for scratch the
// size of dy and of the input (their channels-last copies).
void backward_channels_last(const GridSampleShape& s, const TapTable& taps, const float* dy, const float* input,
                            float* grad_input, float* sums) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w, C = s.c;
  AlignedBuffer<float> dy_cl(static_cast<size_t>(s.n * out_plane * C));
  transpose_matrices(dy, dy_cl.data(), s.n, C, out_plane);
  if (grad_input != nullptr) {
    // Tasks of (image, block of channels), each block's gradient rows in a buffer of its own (L2),
    // then transposed into the block's planes.
    const auto scatter = FLEXCONV_PICK_ISA(grid_scatter_channels_last);
    const auto transpose = FLEXCONV_PICK_ISA(transpose_block);
    constexpr std::int64_t kChannelBlock = 16;
    const std::int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock;
    parallel_for(s.n * blocks, [&](std::int64_t t0, std::int64_t t1) {
      AlignedBuffer<float> g_block(static_cast<size_t>(in_plane * kChannelBlock));
      for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t n = t / blocks, c0 = (t % blocks) * kChannelBlock;
        const std::int64_t width = std::min(kChannelBlock, C - c0);
        std::memset(g_block.data(), 0, g_block.size() * sizeof(float));
        scatter(taps.at(n * out_plane), out_plane, dy_cl.data() + n * out_plane * C + c0, C, width, g_block.data(),
                kChannelBlock);
        transpose(g_block.data(), kChannelBlock, grad_input + (n * C + c0) * in_plane, in_plane, in_plane, width);
      }
    });
  }
  if (sums == nullptr) return;
  AlignedBuffer<float> x_cl(static_cast<size_t>(s.n * in_plane * C));
  transpose_matrices(input, x_cl.data(), s.n, C, in_plane);
  AlignedBuffer<float> zero_row(static_cast<size_t>(C));
  std::memset(zero_row.data(), 0, zero_row.size() * sizeof(float));
  const auto grad_sums = FLEXCONV_PICK_ISA(grid_grad_sums_channels_last);
  const std::int64_t pixels = s.n * out_plane;
  for_each_pixel_block(s, [&](std::int64_t n, std::int64_t p0, std::int64_t count) {
    const std::int64_t first = n * out_plane + p0;
    grad_sums(taps.at(first), count, x_cl.data() + n * in_plane * C, dy_cl.data() + first * C, C, zero_row.data(),
              sums + first, sums + pixels + first);
  });
}

// The backward plane by plane, for images of few channels: the input gradient by (image, channel) planes, each thread
// scattering into its own planes; `sums` (the grid gradient's x sums, then y sums, or null) with each pixel's channels
// in increasing order, whatever the threads: by blocks of pixels through all channels, or for images beyond L2 plane by
// plane, the threads over ranges of pixels (the plane's lines stay in L1 while the range samples it, and the range's
// taps stream from L2; blocks of pixels through passes of channels whose planes filled half of L2 gathered from L2: the
// grid gradient of N1 C256 64x64 took 1.4x the forward's time beyond its own sampling).
void backward_planes(const GridSampleShape& s, const TapTable& taps, const float* dy, const float* input,
                     float* grad_input, float* sums) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w, pixels = s.n * out_plane;
  if (grad_input != nullptr) {
    parallel_for(s.n * s.c, [&](std::int64_t p0, std::int64_t p1) {
      for (std::int64_t p = p0; p < p1; ++p) {
        const std::int64_t first = (p / s.c) * out_plane;
        float* g = grad_input + p * in_plane;
        std::memset(g, 0, static_cast<size_t>(in_plane) * sizeof(float));
        const float* d = dy + p * out_plane;
        for (std::int64_t pix = 0; pix < out_plane; ++pix) {
          for (int k = 0; k < 4; ++k) {
            const std::int32_t i = taps.idx(k, first + pix);
            if (i >= 0) g[i] += taps.w(k, first + pix) * d[pix];
          }
        }
      }
    });
  }
  if (sums == nullptr) return;
  const auto grad_sums = FLEXCONV_PICK_ISA(grid_grad_sums);
  std::memset(sums, 0, static_cast<size_t>(2 * pixels) * sizeof(float));
  if (plane_major(s)) {
    for (std::int64_t n = 0; n < s.n; ++n) {
      parallel_for(out_plane, [&](std::int64_t p0, std::int64_t p1) {
        const std::int64_t first = n * out_plane + p0;
        for (std::int64_t c = 0; c < s.c; ++c) {
          grad_sums(taps.at(first), p1 - p0, input + (n * s.c + c) * in_plane, in_plane,
                    dy + (n * s.c + c) * out_plane + p0, out_plane, 1, sums + first, sums + pixels + first);
        }
      });
    }
    return;
  }
  for_each_pixel_block(s, [&](std::int64_t n, std::int64_t p0, std::int64_t count) {
    const std::int64_t first = n * out_plane + p0;
    grad_sums(taps.at(first), count, input + n * s.c * in_plane, in_plane, dy + n * s.c * out_plane + p0, out_plane,
              s.c, sums + first, sums + pixels + first);
  });
}

}  // namespace

void grid_sample2d_backward(const GridSampleShape& s, const float* dy, const float* input, const float* grid,
                            float* grad_input, float* grad_grid) {
  check_plane_size(s, "gridSample backward");
  // The taps of every (batch, output pixel), computed once and shared by both gradients (the
  // input gradient would otherwise recompute them for every channel).
  const std::int64_t pixels = s.n * s.out_h * s.out_w;
  TapTable taps(pixels);
  taps.fill(s, grid);
  // Nearest sampling is piecewise constant in the grid: zero gradient, as in PyTorch.
  const bool grid_sums = grad_grid != nullptr && s.mode != GridMode::Nearest;
  AlignedBuffer<float> sums(grid_sums ? static_cast<size_t>(2 * pixels) : 0);  // x sums, then y sums
  if (s.c >= kChannelsLastMin) {
    backward_channels_last(s, taps, dy, input, grad_input, grid_sums ? sums.data() : nullptr);
  } else {
    backward_planes(s, taps, dy, input, grad_input, grid_sums ? sums.data() : nullptr);
  }
  if (grad_grid == nullptr) return;
  if (!grid_sums) {
    std::memset(grad_grid, 0, static_cast<size_t>(2 * pixels) * sizeof(float));
    return;
  }
  parallel_for(
      pixels,
      [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t j = b; j < e; ++j) {
          grad_grid[2 * j] = sums[static_cast<size_t>(j)] * taps.gx_mult(j);
          grad_grid[2 * j + 1] = sums[static_cast<size_t>(pixels + j)] * taps.gy_mult(j);
        }
      },
      1024);
}

}  // namespace cpu
}  // namespace flexconv
