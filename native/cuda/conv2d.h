// CUDA conv2d behind the same interface as cpu/conv2d.h (device pointers, NCHW float32).
// Plain C++ declarations so the binding can include it without the CUDA headers.
#pragma once
#include <cstdint>

#include "math/conv_geometry.h"

namespace flexconv {
namespace cuda {

void conv2d_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                    float* out);
void conv2d_backward_input(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,
                           float* grad_input);
void conv2d_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                            float* grad_weight);
void channel_sums(std::int64_t batch, std::int64_t channels, std::int64_t plane, const float* x, float* sums);
void add_channel_bias(std::int64_t batch, std::int64_t channels, std::int64_t plane, const float* bias, float* x);

}  // namespace cuda
}  // namespace flexconv
