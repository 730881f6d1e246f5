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
bool use_avx2() { return active_isa() != Isa::Portable; }
}  // namespace

void depthwise_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                       float* out) {
  const bool wide = use_avx2();
  parallel_for(g.batch * g.out_channels, [&](std::int64_t t0, std::int64_t t1) {
    if (wide) {
      avx2::forward(g, input, weight, bias, out, t0, t1);
    } else {
      baseline::forward(g, input, weight, bias, out, t0, t1);
    }
  });
}

void depthwise_backward_input(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,
                              float* grad_input) {
  const bool wide = use_avx2();
  parallel_for(g.batch * g.in_channels, [&](std::int64_t t0, std::int64_t t1) {
    if (wide) {
      avx2::backward_input(g, grad_out, weight, grad_input, t0, t1);
    } else {
      baseline::backward_input(g, grad_out, weight, grad_input, t0, t1);
    }
  });
}

void depthwise_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                               float* grad_weight) {
  const bool wide = use_avx2();
  parallel_for(g.out_channels, [&](std::int64_t o0, std::int64_t o1) {
    if (wide) {
      avx2::backward_weight(g, grad_out, input, grad_weight, o0, o1);
    } else {
      baseline::backward_weight(g, grad_out, input, grad_weight, o0, o1);
    }
  });
}

}  // namespace cpu
}  // namespace flexconv
