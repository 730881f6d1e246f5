// Deformable convolution on CUDA: same semantics and signatures as cpu/deform_conv2d.h, device
// pointers. Plain C++ declarations so the binding can include it without CUDA headers.
#pragma once
#include "math/deform_geometry.h"

namespace flexconv {
namespace cuda {

void deform_conv2d_forward(const math::DeformConv2dGeometry& g, const float* input, const float* offset,
                           const float* mask, const float* weight, const float* bias, float* output);

// deterministic: the input gradient is gathered per channel by one owner thread instead of
// scattered with atomicAdd (slower, bit-identical from run to run). The other gradients are
// always deterministic.
void deform_conv2d_backward(const math::DeformConv2dGeometry& g, const float* input, const float* offset,
                            const float* mask, const float* weight, const float* grad_output,
                            float* grad_input, float* grad_offset, float* grad_mask, float* grad_weight,
                            float* grad_bias, bool deterministic);

}  // namespace cuda
}  // namespace flexconv
