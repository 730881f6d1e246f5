// Depthwise conv2d, direct (see conv2d_depthwise.h). Inner loops run along output rows over
// the taps' valid range, so they vectorise and never test bounds per element. The bodies live
// in conv2d_depthwise_isa.cc, compiled once per instruction set; the entry points pick the copy
// for this CPU.
#include "cpu/conv2d_depthwise.h"

#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace flexconv {
namespace cpu {

void depthwise_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                       float* out) {
  const auto forward = FLEXCONV_PICK_ISA(depthwise_forward_planes);
  parallel_for(g.batch * g.out_channels,
               [&](std::int64_t t0, std::int64_t t1) { forward(g, input, weight, bias, out, t0, t1); });
}

void depthwise_backward_input(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,
                              float* grad_input) {
  const auto backward = FLEXCONV_PICK_ISA(depthwise_backward_input_planes);
  parallel_for(g.batch * g.in_channels,
               [&](std::int64_t t0, std::int64_t t1) { backward(g, grad_out, weight, grad_input, t0, t1); });
}

void depthwise_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                               float* grad_weight) {
  const auto backward = FLEXCONV_PICK_ISA(depthwise_backward_weight_channels);
  parallel_for(g.out_channels,
               [&](std::int64_t o0, std::int64_t o1) { backward(g, grad_out, input, grad_weight, o0, o1); });
}

}  // namespace cpu
}  // namespace flexconv
