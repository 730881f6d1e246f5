// CPU grid_sample's forward. Every output pixel's taps are computed once (cpu/grid_sample_taps.h)
// and reused for all channels; the per-pixel loops over a plane are vector code
// (cpu/grid_sample_kernels.h: one gather per corner for 16 pixels), tasks of (batch, block of
// output pixels) across threads.
//
// Channels are the outer loop inside a pixel block: walking all channels for one pixel
// would touch C planes at the same offset, and planes of a power-of-two size (32x32 floats =
// 4 KB) all map to the same L1 set, so every access missed (the forward ran at ~0.5x ONNX
// Runtime's GridSample). A block reads one plane at a time and writes contiguous outputs.
// Images beyond L2 (C planes together over 1 MB) go plane by plane over all pixels instead,
// so that each plane is fetched from memory once, not once per block (forward_plane_major).
#include "ops/grid_sample.h"

#include "core/isa.h"
#include "cpu/grid_sample_taps.h"

namespace flexconv {
namespace cpu {
namespace {

using grid::check_plane_size;
using grid::for_each_pixel_block;
using grid::kChannelsLastMin;
using grid::kPixelBlock;
using grid::plane_major;
using grid::TapTable;
using grid::transpose_matrices;

// Plane-major forward: each image's taps once (threads over pixels), then threads over
// channels, each plane read once while all its pixels are sampled.
void forward_plane_major(const GridSampleShape& s, const float* input, const float* grid, float* out) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  const auto sample_plane = FLEXCONV_PICK_ISA(grid_sample_plane);
  TapTable taps(out_plane);
  for (std::int64_t n = 0; n < s.n; ++n) {
    taps.fill(s, grid + 2 * n * out_plane);
    parallel_for(s.c, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        sample_plane(taps.at(0), out_plane, input + (n * s.c + c) * in_plane, out + (n * s.c + c) * out_plane);
      }
    });
  }
}

// Channels-last forward (from kChannelsLastMin channels): the input transposed to NHWC once, each
// output pixel's channels then summed from its corners' rows as whole vectors, a block of pixels
// at a time (threads over blocks), each block's rows transposed into the output planes while
// they are in L1. Planes of a power-of-two size no longer meet in one L1 set, and a corner is a
// few vector loads instead of one gather per channel. The same sums in the same order as
// grid_sample_plane, so the same bits as the plane-major and pixel-block paths. (The whole
// output transposed in a pass of its own took 1.02-1.06x the time, and scratch its size.)
void forward_channels_last(const GridSampleShape& s, const float* input, const float* grid, float* out) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w, C = s.c;
  AlignedBuffer<float> x_cl(static_cast<size_t>(s.n * in_plane * C));
  transpose_matrices(input, x_cl.data(), s.n, C, in_plane);
  TapTable taps(s.n * out_plane);
  taps.fill(s, grid);
  const auto sample = FLEXCONV_PICK_ISA(grid_sample_channels_last);
  const auto transpose = FLEXCONV_PICK_ISA(transpose_block);
  const std::int64_t blocks = (out_plane + kPixelBlock - 1) / kPixelBlock;
  parallel_for(s.n * blocks, [&](std::int64_t t0, std::int64_t t1) {
    AlignedBuffer<float> rows(static_cast<size_t>(kPixelBlock * C));  // a block's output, channels-last
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t n = t / blocks, p0 = (t % blocks) * kPixelBlock;
      const std::int64_t count = std::min(kPixelBlock, out_plane - p0);
      sample(taps.at(n * out_plane + p0), count, x_cl.data() + n * in_plane * C, C, rows.data());
      transpose(rows.data(), C, out + n * C * out_plane + p0, out_plane, count, C);
    }
  });
}

}  // namespace

void grid_sample2d_forward(const GridSampleShape& s, const float* input, const float* grid, float* out) {
  check_plane_size(s, "gridSample");
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  if (s.c >= kChannelsLastMin) {
    forward_channels_last(s, input, grid, out);
    return;
  }
  if (plane_major(s)) {
    forward_plane_major(s, input, grid, out);
    return;
  }
  TapTable taps(s.n * out_plane);
  taps.fill(s, grid);
  const auto sample_plane = FLEXCONV_PICK_ISA(grid_sample_plane);
  for_each_pixel_block(s, [&](std::int64_t n, std::int64_t p0, std::int64_t count) {
    const GridTaps t = taps.at(n * out_plane + p0);
    for (std::int64_t c = 0; c < s.c; ++c) {
      sample_plane(t, count, input + (n * s.c + c) * in_plane, out + (n * s.c + c) * out_plane + p0);
    }
  });
}

}  // namespace cpu
}  // namespace flexconv
