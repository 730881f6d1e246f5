// The per-tile transforms of Winograd F(4x4, 3x3) convolution (cpu/conv2d_winograd.h,
// WinogradTile::F4x4), compiled once per instruction set (conv2d_winograd4_isa.cc, core/isa.h).
// The runs, planes and V layout are those of F(2x2, 3x3) (conv2d_winograd_kernels.h) with tiles
// of 4x4 output pixels and 36 transformed points (xi = 6 a + b) instead of 16. Plain
// declarations only, as there.
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "cpu/conv2d_winograd_kernels.h"

namespace flexconv {
namespace cpu {

// With the points 0, 1, -1, 2, -2 and infinity (Lavin & Gray, 2016):
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//
//   winograd4_weight_tiles: for the 3x3 kernels [p0, p1) of a weight (kernel p: its 9 floats at weight + 9 p; with
//     flipped_from > 0 as winograd_weight_tiles), U = G g G^T into u[xi * point_stride + p]. Returns false when a
//     kernel held inf or NaN.
//   winograd4_input_tiles: for one input channel (`channel`: its plane of image 0), V = B^T d B of every tile's 6x6
//     patch d (rows 4 ty - pad_h .., columns 4 tx - pad_w ..; outside the plane reads as zero), written where
//     `layout` says (as winograd_input_tiles). Returns false when it met a non-finite input value, or may have.
//   winograd4_output_tiles: for one output channel, Y = A^T m A + bias of every tile from m[xi * xi_stride + tile],
//     plus the residual, ReLU if asked, into the tile's 4x4 output pixels that lie inside the plane.
//   winograd4_grad_output_tiles: for one output channel of the output's gradient, Z = A dy A^T (the gradient of M)
//     of every tile's 4x4 block dy (outside the plane reads as zero), written to dst[xi * xi_stride + tile]. Returns
//     false when it met a non-finite value, or may have.
//   winograd4_inverse_weight_tiles: for the channel pairs [p0, p1), dW = G^T u G of u[xi * pairs + p] +
//     second[xi * pairs + p] (the two halves' dU, added first) into weight[9 p .. 9 p + 8].
#define FLEXCONV_WINOGRAD4_ISA_API                                                                                   \
  bool winograd4_weight_tiles(const float* weight, std::int64_t flipped_from, std::int64_t p0, std::int64_t p1,      \
                              std::int64_t pairs, std::int64_t point_stride, float* u);                              \
  bool winograd4_input_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,                   \
                             const float* channel, float* dst, const WinogradVLayout& layout);                       \
  void winograd4_output_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* m,  \
                              std::int64_t xi_stride, float bias, const float* residual, bool relu, float* channel); \
  bool winograd4_grad_output_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,             \
                                   const float* channel, float* dst, std::int64_t xi_stride);                        \
  void winograd4_inverse_weight_tiles(const float* u, const float* second, std::int64_t p0, std::int64_t p1,         \
                                      std::int64_t pairs, float* weight);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_WINOGRAD4_ISA_API)
#undef FLEXCONV_WINOGRAD4_ISA_API

}  // namespace cpu
}  // namespace flexconv
