// 2-D convolution (NCHW, float32, PyTorch semantics): the geometry check and the entry points
// both backends implement (cpu/conv2d.cc, whose header explains the CPU algorithms and its
// CPU-only extras; cuda/conv2d.cu). conv_transpose2d is conv2d's adjoint and has no kernels of
// its own: its forward is conv2d_backward_input and its input gradient conv2d_forward.
#pragma once
#include <cstdint>

#include "math/conv_geometry.h"

namespace flexconv {

// Checks that the geometry is consistent (positive sizes, groups divide channels, output size
// matches); throws flexconv::Error otherwise (ops/conv2d.cc).
void conv2d_check_geometry(const math::Conv2dGeometry& g);

// What inference fuses into a convolution's output (ResNet's conv -> (BN folded) -> + identity
// -> ReLU): `residual` (null or [N, O, OH, OW]) is added and then ReLU applied, inside the
// pass that writes each image's output, while it is in cache, instead of as two more passes.
struct ConvEpilogue {
  const float* residual = nullptr;
  bool relu = false;
};

// A weight packed once for many forwards (CPU inference; defined in cpu/conv2d.h).
struct PackedConvWeights;

// conv2d_forward: out[N, O, OH, OW] = conv(input[N, C, H, W], weight[O, C/groups, kh, kw]) +
// bias[O] (bias may be null), then the epilogue. `prepacked` (null, or packed from `weight`
// and fitting g) replaces packing the weight. The epilogue and packed weights are CPU
// features: the CUDA forward refuses them (flexconv::Error).
// conv2d_backward_input: grad_input[N, C, H, W] = conv2d's adjoint applied to grad_out
// (overwrites; pixels no output reads get 0).
// conv2d_backward_weight: grad_weight[O, C/groups, kh, kw] = sum over the batch of grad_out x
// col^T (overwrites).
// add_channel_bias: x[n, c, :] += bias[c] for x [N, C, plane] (conv_transpose2d's bias,
// linear's with plane 1). channel_sums: sums[c] = sum over n and the plane of x (the bias
// gradient); deterministic.
#define FLEXCONV_CONV2D_ENTRY_POINTS                                                                                 \
  void conv2d_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,     \
                      float* out, const ConvEpilogue& epilogue = {}, const PackedConvWeights* prepacked = nullptr);  \
  void conv2d_backward_input(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,              \
                             float* grad_input);                                                                     \
  void conv2d_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,              \
                              float* grad_weight);                                                                   \
  void add_channel_bias(std::int64_t batch, std::int64_t channels, std::int64_t plane, const float* bias, float* x); \
  void channel_sums(std::int64_t batch, std::int64_t channels, std::int64_t plane, const float* x, float* sums);

namespace cpu {
FLEXCONV_CONV2D_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_CONV2D_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_CONV2D_ENTRY_POINTS

}  // namespace flexconv
