// Direct kernels for depthwise convolution (groups == in_channels, any channel multiplier):
// each output plane reads exactly one input plane, so a GEMM would have K = kh*kw and waste
// most of its packing. Work is split by plane: every thread writes only its own planes.
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "math/conv_geometry.h"

namespace flexconv {
namespace cpu {

void depthwise_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                       float* out);
void depthwise_backward_input(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,
                              float* grad_input);
void depthwise_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                               float* grad_weight);

// The per-instruction-set bodies (cpu/conv2d_depthwise_isa.cc) over a range of planes: output
// planes [t0, t1) for forward, input planes for backward_input, output channels [o0, o1) for
// backward_weight.
#define FLEXCONV_DEPTHWISE_ISA_API                                                                                  \
  void depthwise_forward_planes(const math::Conv2dGeometry& g, const float* input, const float* weight,             \
                                const float* bias, float* out, std::int64_t t0, std::int64_t t1);                   \
  void depthwise_backward_input_planes(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,   \
                                       float* grad_input, std::int64_t t0, std::int64_t t1);                        \
  void depthwise_backward_weight_channels(const math::Conv2dGeometry& g, const float* grad_out, const float* input, \
                                          float* grad_weight, std::int64_t o0, std::int64_t o1);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_DEPTHWISE_ISA_API)
#undef FLEXCONV_DEPTHWISE_ISA_API

}  // namespace cpu
}  // namespace flexconv
