// Deformable convolution (DCNv1 / DCNv2) on the CPU as a fused implicit GEMM.
// Semantics and layout: math/deform_geometry.h and math/bilinear.h.
#pragma once
#include "math/deform_geometry.h"

namespace flexconv {
namespace cpu {

// mask and bias may be null. output is (N, O, Ho, Wo).
void deform_conv2d_forward(const math::DeformConv2dGeometry& g, const float* input, const float* offset,
                           const float* mask, const float* weight, const float* bias, float* output);

// Every grad_* may be null (not wanted); grad_mask is ignored when mask is null. Each
// wanted gradient is overwritten (not accumulated). Results are bit-identical at any thread
// count and from run to run.
void deform_conv2d_backward(const math::DeformConv2dGeometry& g, const float* input, const float* offset,
                            const float* mask, const float* weight, const float* grad_output,
                            float* grad_input, float* grad_offset, float* grad_mask, float* grad_weight,
                            float* grad_bias);

}  // namespace cpu
}  // namespace flexconv
