// Dynamic convolution (CondConv / DY-Conv): every sample b of the batch is convolved with its
// own kernel W_b = sum_k attention[b, k] * experts[k] (and bias sum_k attention[b, k] *
// expert_bias[k]). The contract both backends implement (cpu/dynamic_conv2d.cc, whose header
// explains the CPU algorithm; cuda/dynamic_conv2d.cu).
#pragma once
#include <cstdint>

#include "math/conv_geometry.h"

namespace flexconv {

// dynamic_conv2d_forward: g describes the whole batch (g.batch = B, g.out_channels = O);
// experts [K, O, C/groups, kh, kw], attention [B, K], expert_bias [K, O] or null; out [B, O,
// OH, OW].
// dynamic_conv2d_backward: any of the grad_* outputs may be null (not wanted); each one given
// is overwritten. grad_expert_bias is only computed when expert_bias is given. grad_attention
// includes the bias term when expert_bias is given.
#define FLEXCONV_DYNAMIC_CONV2D_ENTRY_POINTS                                                                       \
  void dynamic_conv2d_forward(const math::Conv2dGeometry& g, std::int64_t experts_count, const float* input,       \
                              const float* experts, const float* attention, const float* expert_bias, float* out); \
  void dynamic_conv2d_backward(const math::Conv2dGeometry& g, std::int64_t experts_count, const float* grad_out,   \
                               const float* input, const float* experts, const float* attention,                   \
                               const float* expert_bias, float* grad_input, float* grad_experts,                   \
                               float* grad_attention, float* grad_expert_bias);

namespace cpu {
FLEXCONV_DYNAMIC_CONV2D_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_DYNAMIC_CONV2D_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_DYNAMIC_CONV2D_ENTRY_POINTS

}  // namespace flexconv
