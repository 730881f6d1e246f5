// Depthwise conv2d, direct (see conv2d_depthwise.h). Inner loops run along output rows over
// the taps' valid range, so they vectorise and never test bounds per element. The bodies live
// in conv2d_depthwise_impl.h, compiled here for the baseline ISA and in
// conv2d_depthwise_avx2.cc for AVX2; the entry points pick one at run time.
#include "cpu/conv2d_depthwise.h"

#include "core/cpu_features.h"
#include "core/thread_pool.h"

#define FLEXCONV_DW_NS baseline
#include "cpu/conv2d_depthwise_impl.h"

namespace flexconv {
namespace cpu {
namespace avx2 {
void forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias, float* out,
             std::int64_t t0, std::int64_t t1);
void backward_input(const math::Conv2dGeometry& g, const float* grad_out, const float* weight, float* grad_input,
                    std::int64_t t0, std::int64_t t1);
void backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input, float* grad_weight,
                     std::int64_t o0, std::int64_t o1);
}  // namespace avx2

namespace {

// The AVX2 build where it exists and may run, else the baseline one. (The AVX2 symbols are
// named only inside `if constexpr`: builds without them never refer to them.)
using ForwardFn = void (*)(const math::Conv2dGeometry&, const float*, const float*, const float*, float*, std::int64_t,
                           std::int64_t);
using BackwardFn = void (*)(const math::Conv2dGeometry&, const float*, const float*, float*, std::int64_t,
                            std::int64_t);
bool wide() { return active_isa() != Isa::Portable; }
ForwardFn forward_kernel() {
  if constexpr (kHasX86Kernels) {
    if (wide()) return avx2::forward;
  }
  return baseline::forward;
}
BackwardFn backward_input_kernel() {
  if constexpr (kHasX86Kernels) {
    if (wide()) return avx2::backward_input;
  }
  return baseline::backward_input;
}
BackwardFn backward_weight_kernel() {
  if constexpr (kHasX86Kernels) {
    if (wide()) return avx2::backward_weight;
  }
  return baseline::backward_weight;
}

}  // namespace

void depthwise_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                       float* out) {
  const ForwardFn forward = forward_kernel();
  parallel_for(g.batch * g.out_channels,
               [&](std::int64_t t0, std::int64_t t1) { forward(g, input, weight, bias, out, t0, t1); });
}

void depthwise_backward_input(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,
                              float* grad_input) {
  const BackwardFn backward = backward_input_kernel();
  parallel_for(g.batch * g.in_channels,
               [&](std::int64_t t0, std::int64_t t1) { backward(g, grad_out, weight, grad_input, t0, t1); });
}

void depthwise_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                               float* grad_weight) {
  const BackwardFn backward = backward_weight_kernel();
  parallel_for(g.out_channels,
               [&](std::int64_t o0, std::int64_t o1) { backward(g, grad_out, input, grad_weight, o0, o1); });
}

}  // namespace cpu
}  // namespace flexconv
