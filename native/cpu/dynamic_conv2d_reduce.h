// The kernel gradients of dynamic convolution on the CPU (the plan is in cpu/dynamic_conv2d.h):
// the per-sample kernel gradients grad_W_b, never stored whole, reduced into
//   grad_experts[k]    = sum_b attention[b, k] * grad_W_b
//   grad_attention[b, k] = <grad_W_b, experts[k]>   (the kernel term; the bias term is added by the caller)
#pragma once
#include <cstdint>

#include "math/conv_geometry.h"

namespace flexconv {
namespace cpu {

// grad_experts [K, D] (when not null) and grad_attention [B, K] (when not null), both
// overwritten, for the dynamic conv g. By Winograd's transformed domain where the per-sample
// convolutions of g are 3x3 stride-1 convs with enough tiles per image (and every value is
// finite), otherwise by blocks of the per-sample GEMMs. Either way the result does not depend on
// the thread count.
void dynamic_kernel_gradients(const math::Conv2dGeometry& g, std::int64_t K, const float* grad_out, const float* input,
                              const float* experts, const float* attention, float* grad_experts, float* grad_attention);

}  // namespace cpu
}  // namespace flexconv
