// CUDA interpolate: one thread per output element, source taps from math/interpolate.h
// (the same float arithmetic as the CPU kernel); the backward scatters with atomicAdd.
#include <cuda_runtime.h>

#include "ops/interpolate.h"
#include "cuda/runtime.h"
#include "cuda/launch.cuh"
#include "math/interpolate.h"

namespace flexconv {
namespace cuda {
namespace {

struct Taps2d {
  math::LinearTap h, w;
};

__device__ Taps2d taps_at(const InterpShape& s, InterpMode mode, std::int64_t oh, std::int64_t ow) {
  Taps2d t;
  if (mode == InterpMode::Nearest) {
    const std::int64_t ih = math::nearest_source(oh, s.in_h, s.out_h, s.scale_h);
    const std::int64_t iw = math::nearest_source(ow, s.in_w, s.out_w, s.scale_w);
    t.h = math::LinearTap{ih, ih, 1.0f, 0.0f};
    t.w = math::LinearTap{iw, iw, 1.0f, 0.0f};
  } else {
    t.h = math::linear_source(oh, s.in_h, math::linear_scale(s.in_h, s.out_h, s.align_corners, s.scale_h),
                              s.align_corners);
    t.w = math::linear_source(ow, s.in_w, math::linear_scale(s.in_w, s.out_w, s.align_corners, s.scale_w),
                              s.align_corners);
  }
  return t;
}

__global__ void interp_forward_kernel(InterpShape s, InterpMode mode, const float* x, float* y, const float* base) {
  FLEXCONV_GRID_STRIDE(i, s.planes * s.out_h * s.out_w) {
    const std::int64_t ow = i % s.out_w, oh = (i / s.out_w) % s.out_h, p = i / (s.out_w * s.out_h);
    const Taps2d t = taps_at(s, mode, oh, ow);
    const float* xp = x + p * s.in_h * s.in_w;
    const float* r0 = xp + t.h.i0 * s.in_w;
    const float* r1 = xp + t.h.i1 * s.in_w;
    const float v =
        t.h.w0 * (t.w.w0 * r0[t.w.i0] + t.w.w1 * r0[t.w.i1]) + t.h.w1 * (t.w.w0 * r1[t.w.i0] + t.w.w1 * r1[t.w.i1]);
    y[i] = base ? base[i] + v : v;
  }
}

__global__ void interp_backward_kernel(InterpShape s, InterpMode mode, const float* dy, float* grad_x) {
  FLEXCONV_GRID_STRIDE(i, s.planes * s.out_h * s.out_w) {
    const std::int64_t ow = i % s.out_w, oh = (i / s.out_w) % s.out_h, p = i / (s.out_w * s.out_h);
    const Taps2d t = taps_at(s, mode, oh, ow);
    float* gp = grad_x + p * s.in_h * s.in_w;
    const float g = dy[i];
    if (mode == InterpMode::Nearest) {
      atomicAdd(gp + t.h.i0 * s.in_w + t.w.i0, g);
      continue;
    }
    atomicAdd(gp + t.h.i0 * s.in_w + t.w.i0, t.h.w0 * t.w.w0 * g);
    atomicAdd(gp + t.h.i0 * s.in_w + t.w.i1, t.h.w0 * t.w.w1 * g);
    atomicAdd(gp + t.h.i1 * s.in_w + t.w.i0, t.h.w1 * t.w.w0 * g);
    atomicAdd(gp + t.h.i1 * s.in_w + t.w.i1, t.h.w1 * t.w.w1 * g);
  }
}

}  // namespace

void interpolate2d_forward(const InterpShape& s, InterpMode mode, const float* x, float* y, const float* base) {
  const std::int64_t n = s.planes * s.out_h * s.out_w;
  if (n == 0) return;
  interp_forward_kernel<<<grid_blocks(n), kThreads>>>(s, mode, x, y, base);
  check_last_launch("interpolate2d_forward");
}

void interpolate2d_backward(const InterpShape& s, InterpMode mode, const float* dy, float* grad_x) {
  fill(grad_x, 0.0f, static_cast<std::size_t>(s.planes * s.in_h * s.in_w));
  const std::int64_t n = s.planes * s.out_h * s.out_w;
  if (n == 0) return;
  interp_backward_kernel<<<grid_blocks(n), kThreads>>>(s, mode, dy, grad_x);
  check_last_launch("interpolate2d_backward");
}

}  // namespace cuda
}  // namespace flexconv
