// The inner loops of CPU grid_sample (cpu/grid_sample.cc), compiled once per instruction set
// (cpu/grid_sample_kernels_isa.cc, core/isa.h): sampling one plane at many output pixels, and
// the grid gradient's sums over channels. Both read the pixels' taps as a structure of arrays,
// so the AVX-512 copy loads 16 pixels' corner indices and weights with one instruction each
// and fetches their corner values with one gather per corner.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

// The sampling taps of `count` consecutive output pixels, one array per field, pixel j at [j]:
// the four corners (nw, ne, sw, se for bilinear; nearest uses corner 0 only, the others -1) as
// flat indices into the input plane, -1 where the corner lies outside it; their weights (0
// where outside); and, for the grid gradient, the bilinear fractions tx, ty.
struct GridTaps {
  const std::int32_t* idx[4];
  const float* w[4];
  const float* tx;
  const float* ty;
};

//   grid_sample_plane: dst[j] = sum over the corners k = 0..3 inside the plane of w[k][j] * plane[idx[k][j]], for
//     j in [0, count), corners added in order k = 0, 1, 2, 3.
//   grid_grad_sums: for the bilinear taps of pixels [0, count) and the `channels` planes input + c * in_plane with
//     their output gradients dy + c * out_plane (pixel j at dy[c * out_plane + j]): gx[j] += dy * ((ne - nw) (1 - ty)
//     + (se - sw) ty), gy[j] += dy * ((sw - nw) (1 - tx) + (se - ne) tx), corners outside reading 0, channel by
//     channel in increasing order (each pixel's sums are the same whatever the count).
//
// The channels-last kernels (cpu/grid_sample.cc, cpu/grid_sample_backward.cc), rows of `channels` floats:
// pixel j's output gradient at dy[j * channels + c], input element i at x[i * channels + c], its gradient at
// g[i * channels + c].
//   grid_sample_channels_last: out[j * channels + c] = the sum over the corners k = 0..3 inside the plane of
//     w[k][j] * x[idx[k][j] * channels + c], corners added in order k = 0, 1, 2, 3 (grid_sample_plane's sums).
//   grid_scatter_channels_last: g[idx[k][j] * g_stride + c] += w[k][j] * dy[j * dy_stride + c] for c in [0, width),
//     the corners k inside the plane, pixels [0, count) in order, corners in order (each element's sum in a fixed
//     order).
//   grid_grad_sums_channels_last: gx[j], gy[j] = grid_grad_sums's sums over every channel, each pixel's channels
//     summed in vector lanes, then across the lanes in a fixed order; `zero_row` (channels zeros) is read for
//     corners outside the plane.
#define FLEXCONV_GRID_SAMPLE_ISA_API                                                                              \
  void grid_sample_plane(const GridTaps& t, std::int64_t count, const float* plane, float* dst);                  \
  void grid_grad_sums(const GridTaps& t, std::int64_t count, const float* input, std::int64_t in_plane,           \
                      const float* dy, std::int64_t out_plane, std::int64_t channels, float* gx, float* gy);      \
  void grid_sample_channels_last(const GridTaps& t, std::int64_t count, const float* x, std::int64_t channels,    \
                                 float* out);                                                                     \
  void grid_scatter_channels_last(const GridTaps& t, std::int64_t count, const float* dy, std::int64_t dy_stride, \
                                  std::int64_t width, float* g, std::int64_t g_stride);                           \
  void grid_grad_sums_channels_last(const GridTaps& t, std::int64_t count, const float* x, const float* dy,       \
                                    std::int64_t channels, const float* zero_row, float* gx, float* gy);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_GRID_SAMPLE_ISA_API)
#undef FLEXCONV_GRID_SAMPLE_ISA_API

}  // namespace cpu
}  // namespace flexconv
