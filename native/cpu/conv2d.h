// 2-D convolution on the CPU (NCHW, float32, PyTorch semantics): the CPU side of ops/conv2d.h
// and its CPU-only extras (packed weights, the packed-operand entry points dynamic convolution
// uses).
//
// Forward and the weight gradient are implicit GEMMs on the shared core (cpu/gemm/gemm.h):
// the column matrix (im2col) is never materialised, a BSource packs it block by block
// straight from the input. The input gradient of a stride-1 conv is itself a conv (of grad_out
// with the flipped, transposed weight) and runs through the forward path; otherwise it
// multiplies W^T by grad_out one (images x channel-block) tile at a time and scatters the
// tile (col2im) into the channels that tile owns, so no two threads ever write the same
// address: results are bit-identical at any thread count. Depthwise convolutions (groups == in_channels) use direct
// kernels instead, because their GEMMs are too thin to pay for packing; so do thin stride-1 convs (at most 16 inputs
// and 2-32 outputs, or 64 inputs and 2-31 outputs: stems, a width-16 network's first stage, offset predictors; forward,
// input and 3x3 weight gradients read a zero-bordered copy directly, cpu/conv2d_direct.h); other stride-1 convs with
// few output channels (offset predictors of wider layers or smaller maps) multiply first and shift afterwards
// (cpu/conv2d_kn2row.h). On AVX-512, 3x3 stride-1 layers
// with enough channels and tiles run by Winograd F(2x2, 3x3) instead (cpu/conv2d_winograd.h):
// always with packed weights, per call (weights transformed for it) from 128 tiles.
//
// conv_transpose2d is the adjoint of conv2d, so it has no kernels of its own: its forward is
// conv2d_backward_input and its input gradient is conv2d_forward (see lib/ops/conv.ts).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "cpu/gemm/gemm.h"
#include "math/conv_geometry.h"
#include "ops/conv2d.h"

namespace flexconv {
namespace cpu {}  // namespace cpu

// A weight packed once for many forwards (inference): packing the GEMM's A operand costs a
// pass over the weights per call, as much as the GEMM itself for one small image. conv2d packs
// each output channel's row in the weight's own (channel, tap) order; the deformable conv in
// (tap, channel) order (cpu/deform_conv2d.h), so a handle made for one never fits the other.
struct PackedConvWeights {
  enum class Order { ChannelMajor, TapMajor };
  std::int64_t out_channels, in_per_group, kernel_h, kernel_w, groups;
  Order order;
  std::vector<gemm::PackedA> per_group;
  // conv2d's 3x3 weights also as Winograd's 16 transformed matrices (cpu/conv2d_winograd.h),
  // for the stride-1 layers; empty where that does not apply.
  std::vector<gemm::PackedA> winograd;
  // Weights with few output channels (offset predictors) also as kn2row multiplies them
  // (cpu/conv2d_kn2row.h): a matrix per part of the output channels, or none where that does not
  // apply.
  std::vector<gemm::PackedA> kn2row;
};

namespace cpu {
std::unique_ptr<PackedConvWeights> conv2d_pack_weights(const float* weight, std::int64_t out_channels,
                                                       std::int64_t in_per_group, std::int64_t kernel_h,
                                                       std::int64_t kernel_w, std::int64_t groups);
// Whether `p` was packed from a weight of g's shape and groups.
bool conv2d_packed_fits(const math::Conv2dGeometry& g, const PackedConvWeights& p);

// True when conv2d_forward runs g as GEMMs with the weights as the packed A operand (not
// depthwise, not kn2row, not an empty kernel); then conv2d_forward_packed applies.
bool conv2d_forward_is_gemm(const math::Conv2dGeometry& g);

// conv2d_backward_weight without the Winograd path, for callers inside the thread pool's tasks
// (dynamic convolution's per-sample blocks): there Winograd's two halves would run on one
// thread, and the choice must not depend on whether the caller is such a task (1 thread runs
// tasks inline), or the bits would depend on the thread count.
void conv2d_backward_weight_direct(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                                   float* grad_weight);

// conv2d_forward with each group's weights already packed: packed[gi] holds
// weight[gi*Og : (gi+1)*Og] as an Og x (C/groups*kh*kw) matrix. One GEMM per (image, group);
// the same arithmetic as conv2d_forward of a batch of one. For callers whose weights are not
// plain tensors (dynamic convolution's mixtures of packed experts).
void conv2d_forward_packed(const math::Conv2dGeometry& g, const gemm::PackedA* packed, const float* input,
                           const float* bias, float* out, const ConvEpilogue& epilogue = {});

// When conv2d_backward_input runs g as W^T x grad_out GEMMs (not depthwise, not as a conv;
// see below): the A operands conv2d_backward_input_packed takes, in this order. For each group
// gi and block of input channels [c0, c0 + nc): the (nc*kh*kw) x (O/groups) matrix
// W_g[:, c0*kh*kw : (c0+nc)*kh*kw]^T, which starts `offset` floats into the weight, rows
// `ld` floats apart, stored transposed. Empty when the GEMMs do not apply.
struct Conv2dWeightSlice {
  std::int64_t rows, depth, offset, ld;
};
std::vector<Conv2dWeightSlice> conv2d_backward_input_slices(const math::Conv2dGeometry& g);

// conv2d_backward_input with those slices already packed (one PackedA per slice, as
// gemm::MatrixA(weight + offset, ld, true)). One task per (image, slice); the same arithmetic
// as conv2d_backward_input of a batch of one. For dynamic convolution, whose kernels are
// mixtures of packed experts.
void conv2d_backward_input_packed(const math::Conv2dGeometry& g, const gemm::PackedA* packed, const float* grad_out,
                                  float* grad_input);

// For stride 1 (and padding that the transposed conv can express), the input gradient is
// itself a convolution: conv2d_forward(*t, grad_out, flipped weight) with the weight flipped
// and transposed by conv2d_flip_weight (W'[c, o, i, j] = W[o, c, kh-1-i, kw-1-j], per group)
// and padding dil*(k-1) - pad. Running it through the forward keeps the GEMM's K at O*kh*kw
// (large) instead of O, and needs no col2im pass. Returns false (t untouched) when the
// shortcut does not apply.
bool conv2d_backward_input_as_conv(const math::Conv2dGeometry& g, math::Conv2dGeometry* t);
// flipped[groups, C/groups, O/groups, kh, kw] from weight[O, C/groups, kh, kw] (see above).
void conv2d_flip_weight(const math::Conv2dGeometry& g, const float* weight, float* flipped);

}  // namespace cpu
}  // namespace flexconv
