// CUDA dynamic convolution behind the same interface as cpu/dynamic_conv2d.h (device
// pointers, NCHW float32). Plain C++ declarations so the binding can include it without the
// CUDA headers.
#pragma once
#include <cstdint>

#include "math/conv_geometry.h"

namespace flexconv {
namespace cuda {

void dynamic_conv2d_forward(const math::Conv2dGeometry& g, std::int64_t experts_count, const float* input,
                            const float* experts, const float* attention, const float* expert_bias, float* out);

void dynamic_conv2d_backward(const math::Conv2dGeometry& g, std::int64_t experts_count, const float* grad_out,
                             const float* input, const float* experts, const float* attention,
                             const float* expert_bias, float* grad_input, float* grad_experts,
                             float* grad_attention, float* grad_expert_bias);

}  // namespace cuda
}  // namespace flexconv
