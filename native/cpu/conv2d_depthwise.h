// Direct kernels for depthwise convolution (groups == in_channels, any channel multiplier):
// each output plane reads exactly one input plane, so a GEMM would have K = kh*kw and waste
// most of its packing. Work is split by plane: every thread writes only its own planes.
#pragma once
#include "math/conv_geometry.h"

namespace flexconv {
namespace cpu {

void depthwise_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                       float* out);
void depthwise_backward_input(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,
                              float* grad_input);
void depthwise_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                               float* grad_weight);

}  // namespace cpu
}  // namespace flexconv
