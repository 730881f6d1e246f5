// The per-tile transforms of Winograd F(2x2, 3x3) convolution (cpu/conv2d_winograd.h), compiled
// once per instruction set (conv2d_winograd_isa.cc, core/isa.h). Plain declarations only: this
// header is compiled into the per-ISA files, which must not instantiate inline library code.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

// n consecutive tiles of one image's tile row: tiles (ty, tx) .. (ty, tx + n - 1). A chunk's
// tiles are a list of runs, numbered in order: the first run's tiles are 0 .. n - 1, and so on.
struct WinogradRun {
  std::int64_t image, ty, tx, n;
};

// Shapes the transforms need: the input planes (in_h x in_w, `pad` zeros around), the output
// planes (out_h x out_w); `image_stride` floats from one image's plane of a channel to the
// next image's (C * in_h * in_w for the input, O * out_h * out_w for the output).
struct WinogradPlanes {
  std::int64_t in_h, in_w, pad_h, pad_w, out_h, out_w, in_image_stride, out_image_stride;
};

// Where winograd_input_tiles writes V of one channel: tile t's point xi at
// dst[xi * xi_stride + (t / panel_width) * panel_stride + t % panel_width], the GEMM's packed B
// layout (gemm::PackedBLayout); panel_width is a multiple of 16.
struct WinogradVLayout {
  std::int64_t xi_stride, panel_width, panel_stride;
};

//   winograd_has_fast_transforms: whether this copy's transforms are vector code (the AVX-512 copy); the others are
//     plain loops, too slow for the saving in the GEMM.
//   winograd_weight_tiles: for the 3x3 kernels [p0, p1) of a weight (kernel p: its 9 floats at weight + 9 p), U = G g
//     G^T into u[xi * point_stride + p]. With flipped_from > 0 (the weight's output channels O, its pairs / O input
//     channels C) kernel p = c O + o is the weight's kernel (o, c) turned by 180 degrees: U of the weight the stride-1
//     input gradient convolves with, without flipping it first (the gathers read it in place; the weight must have
//     fewer than 2^31 floats). Returns false when a kernel held inf or NaN.
//   winograd_inverse_weight_tiles: for the channel pairs [p0, p1), dW = G^T u G (the weight gradient from its
//     transformed gradient) of u[xi * pairs + p] + second[xi * pairs + p] (the two halves' dU, added first) into
//     weight[9 p .. 9 p + 8].
//   winograd_input_tiles: for one input channel (`channel`: its plane of image 0), V[xi] of every tile of the runs:
//     B^T d B of the tile's 4x4 patch d (rows 2 ty - pad_h .., columns 2 tx - pad_w ..; outside the plane reads as
//     zero), written where `layout` says. Returns false when it met a non-finite input value, or may have:
//     it sums V (a sum of finite values may overflow), so false can also mean very large values.
//   winograd_grad_output_tiles: for one output channel of the output's gradient (`channel`: its plane of image 0),
//     Z = A dy A^T (the gradient of M in Y = A^T M A) of every tile's 2x2 block dy (outside the plane reads as zero),
//     written to dst[xi * xi_stride + tile]. Returns false when it met a non-finite value (as input_tiles).
//   winograd_output_tiles: for one output channel (`channel`, `residual`: its plane of image 0; residual may be
//     null), Y = A^T m A + bias of every tile from m[xi * xi_stride + tile], plus the residual, ReLU if asked, into the
//     tile's 2x2 output pixels that lie inside the plane.
#define FLEXCONV_WINOGRAD_ISA_API                                                                                  \
  bool winograd_has_fast_transforms();                                                                             \
  bool winograd_weight_tiles(const float* weight, std::int64_t flipped_from, std::int64_t p0, std::int64_t p1,     \
                             std::int64_t pairs, std::int64_t point_stride, float* u);                             \
  void winograd_inverse_weight_tiles(const float* u, const float* second, std::int64_t p0, std::int64_t p1,        \
                                     std::int64_t pairs, float* weight);                                           \
  bool winograd_input_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,                  \
                            const float* channel, float* dst, const WinogradVLayout& layout);                      \
  bool winograd_grad_output_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,            \
                                  const float* channel, float* dst, std::int64_t xi_stride);                       \
  void winograd_output_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* m, \
                             std::int64_t xi_stride, float bias, const float* residual, bool relu, float* channel);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_WINOGRAD_ISA_API)
#undef FLEXCONV_WINOGRAD_ISA_API

}  // namespace cpu
}  // namespace flexconv
