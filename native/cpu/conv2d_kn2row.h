// conv2d for layers with few output channels (the offset / mask predictors of deformable
// convolutions: 2*9 or 3*9 outputs), by "kn2row": multiply first, shift afterwards.
//
// The im2col GEMM packs C*kh*kw rows of columns for every pixel and uses each packed value
// only O times; with O = 18 the packing costs about as much as the arithmetic. kn2row instead
// multiplies the input itself (no im2col) by all taps' weights at once,
//   Z[(tap, o), pixel] = sum_c W[o, c, tap] * x[c, pixel]     (M = kh*kw*O rows, well filled)
// and adds the taps' shifted planes: y[o, p] = sum_tap Z[(tap, o), p shifted by the tap].
// The weight gradient is the same trick backwards: the output gradient shifted once per tap
// (a small matrix: O channels) times x^T. Stride 1 and groups 1 only; the FLOPs are the same
// as im2col's when the output has the input's size (same padding), so the path is taken then.
#pragma once
#include <vector>

#include "cpu/gemm/gemm.h"
#include "math/conv_geometry.h"

namespace flexconv {
namespace cpu {

// True when the kn2row path is used for this geometry (forward and weight gradient).
bool kn2row_applies(const math::Conv2dGeometry& g);

// Whether a weight of this shape can take the kn2row path at all (few outputs, one group, more
// than one tap): conv2d_pack_weights then also keeps kn2row_pack_weights' copy.
bool kn2row_weights_apply(std::int64_t out_channels, std::int64_t kernel_h, std::int64_t kernel_w, std::int64_t groups);

// The weight as kn2row multiplies it, in two parts of the output channels (one for a single
// output): rows (tap, output channel of the part), columns input channels, each packed as the
// GEMM's A operand. weight: [O, C, kh, kw].
std::vector<gemm::PackedA> kn2row_pack_weights(const float* weight, std::int64_t out_channels, std::int64_t in_channels,
                                               std::int64_t kernel_h, std::int64_t kernel_w);

// Same contracts as conv2d_forward / conv2d_backward_weight (cpu/conv2d.h). `prepacked`, when
// not null, is kn2row_pack_weights of `weight` (inference: rearranging and packing the weight
// cost as much as the multiplication for one small image).
void kn2row_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                    float* out, const std::vector<gemm::PackedA>* prepacked = nullptr);
void kn2row_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                            float* grad_weight);

}  // namespace cpu
}  // namespace flexconv
