// Direct convolution for thin layers: few input channels (a stem's 1 or 3, a width-16 network's
// first stage), or few outputs from up to 64 inputs (a U-Net decoder's last convs, offset
// predictors), with stride 1. There the implicit GEMM spends most of its time packing columns
// (depth C kh kw is short, and every input pixel is copied kh kw times) and kn2row's per-tap
// GEMM has a depth of C: both ran at 6-80 GFLOP/s where the cores do 200. This path reads a
// zero-bordered copy of the input rows directly: each vector of output pixels of a row is a sum,
// over channels and taps, of one unaligned load of the bordered input times a broadcast weight,
// for blocks of output channels and rows at once (a register each). No packing, no bounds
// checks, and every output is summed in the same order (channel, tap) at any thread count.
//
// The input gradient of a stride-1 conv is itself such a conv (of grad_out, with the flipped,
// transposed weight: conv2d_backward_input_as_conv), so it takes this path too when its shape is
// thin. The weight gradient of a thin 3x3 layer is direct as well: per group of four images, each
// kernel tap's gradient is a vector of partial sums of grad_out times the shifted bordered input,
// for a pair of output channels at once (18 registers), summed across the lanes at the end; the
// groups' gradients are then added in order, so the bits do not depend on the thread count.
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "math/conv_geometry.h"
#include "ops/conv2d.h"

namespace flexconv {
namespace cpu {

// Whether conv2d_forward runs g by the direct kernel.
bool direct_conv_applies(const math::Conv2dGeometry& g);
// Whether conv2d_backward_weight does (3x3 kernels among those).
bool direct_conv_weight_grad_applies(const math::Conv2dGeometry& g);

// conv2d_forward of g (direct_conv_applies(g)), bias and epilogue (residual, ReLU) included.
void direct_conv_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                         float* out, const ConvEpilogue& ep);

// grad_weight[O, C, kh, kw] of g (direct_conv_weight_grad_applies(g)).
void direct_conv_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                                 float* grad_weight);

// One call of the per-instruction-set kernel: output rows [oy0, oy1) of one image for a block
// of `count` output channels. `bordered` holds the image's zero-bordered input rows from padded
// row `first_row` on: channel c's row r at bordered + c * plane + (r - first_row) * row, where
// padded row r is input row r - pad_h and padded column x is input column x - pad_w; rows are
// readable `row` + one vector of floats past the last output column's reach. `weights` holds
// the block's kernels as [channel][tap][block_width] (zero past `count`), `bias` `count` values
// or null; out and residual (or null) point at the block's first output plane.
struct DirectConvBlock {
  const float* bordered;
  std::int64_t first_row, plane, row;
  const float* weights;
  int count, block_width;
  const float* bias;
  const float* residual;
  bool relu;
  float* out;
  std::int64_t oy0, oy1;
};

// One call of the weight-gradient kernel: the gradient of output channels [o0, o0 + count) from
// `images` consecutive images, every input channel and tap, into grad_weight (that group of
// images' own [count, C, 3, 3] block). `bordered` holds the first image's whole zero-bordered
// input (planes of `plane` floats, rows `row` apart, as above with first_row 0; the next image's
// C planes follow); grad_out points at the first image's plane o0, the next image's `grad_image`
// floats on.
struct DirectConvGradBlock {
  const float* bordered;
  std::int64_t plane, row;
  const float* grad_out;
  std::int64_t grad_image;
  int images, count;
  float* grad_weight;
};

#define FLEXCONV_DIRECT_CONV_ISA_API                                                  \
  /* Output channels per block the kernel is fastest with (its registers' worth). */  \
  int direct_conv_block_width();                                                      \
  void direct_conv_rows(const math::Conv2dGeometry& g, const DirectConvBlock& block); \
  /* Output channels per call of the weight-gradient kernel. */                       \
  int direct_conv_grad_block_width();                                                 \
  void direct_conv_weight_grad(const math::Conv2dGeometry& g, const DirectConvGradBlock& block);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_DIRECT_CONV_ISA_API)
#undef FLEXCONV_DIRECT_CONV_ISA_API

}  // namespace cpu
}  // namespace flexconv
