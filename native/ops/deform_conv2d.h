// Deformable convolution (DCNv1 / DCNv2): the contract both backends implement
// (cpu/deform_conv2d.cc, a fused implicit GEMM; cuda/deform_conv2d.cu). Semantics and layout:
// math/deform_geometry.h and math/bilinear.h.
#pragma once
#include <cstdint>
#include <vector>

#include "math/deform_geometry.h"

namespace flexconv {

// The shapes of one deformConv2d call (mask and bias may be null: absent).
struct DeformConv2dShapes {
  const std::vector<std::int64_t>& input;
  const std::vector<std::int64_t>& offset;
  const std::vector<std::int64_t>& weight;
  const std::vector<std::int64_t>* mask;
  const std::vector<std::int64_t>* bias;
};

// The contract of deformConv2d, written once (ops/deform_conv2d.cc): every shape rule, with the
// messages users read, and the geometry the shapes imply. params = [strideH, strideW, padH,
// padW, dilH, dilW]. The binding runs it before any kernel; lib/ops/deform_conv.ts gets the
// output size from it (the deformConv2dGeometry export). Throws flexconv::Error (ShapeMismatch,
// InvalidArgument) naming the argument, what was expected and what was received.
math::DeformConv2dGeometry deform_conv2d_geometry(const DeformConv2dShapes& shapes, const std::int64_t (&params)[6]);

// deform_conv2d_forward: mask and bias may be null; output is (N, O, Ho, Wo).
// deform_conv2d_backward: every grad_* may be null (not wanted); grad_mask is ignored when mask
// is null. Each wanted gradient is overwritten (not accumulated). `deterministic` matters on
// CUDA only, where false scatters the input gradient with atomicAdd (faster, not bit-identical
// from run to run); the CPU backward is always bit-identical at any thread count and from run
// to run, so it accepts and ignores the flag.
#define FLEXCONV_DEFORM_CONV2D_ENTRY_POINTS                                                                        \
  void deform_conv2d_forward(const math::DeformConv2dGeometry& g, const float* input, const float* offset,         \
                             const float* mask, const float* weight, const float* bias, float* output);            \
  void deform_conv2d_backward(const math::DeformConv2dGeometry& g, const float* input, const float* offset,        \
                              const float* mask, const float* weight, const float* grad_output, float* grad_input, \
                              float* grad_offset, float* grad_mask, float* grad_weight, float* grad_bias,          \
                              bool deterministic);

namespace cpu {
FLEXCONV_DEFORM_CONV2D_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_DEFORM_CONV2D_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_DEFORM_CONV2D_ENTRY_POINTS

}  // namespace flexconv
