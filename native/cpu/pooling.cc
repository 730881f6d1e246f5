// CPU pooling. Threads split the N*C planes, so every output and every gradient element is
// written by exactly one thread (deterministic at any thread count). The max and average
// forwards run per plane in cpu/pooling_planes_isa.cc (separable passes over a padded copy of
// the plane; the copy for this CPU's instruction set, core/isa.h).
#include "ops/pooling.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/plane_loops.h"
#include "cpu/pooling_planes.h"
#include "math/pooling.h"

namespace flexconv {
namespace cpu {
namespace {

std::int64_t plane_grain(const PoolShape& s) { return cpu::plane_grain(s.out_h * s.out_w + s.in_h * s.in_w); }

// The input window [h0, h1) x [w0, w1) of one adaptive-pooling output (PyTorch's start / end).
struct AdaptiveWindow {
  std::int64_t h0, h1, w0, w1;
  float area() const { return static_cast<float>((h1 - h0) * (w1 - w0)); }
};

// fn(o, window) for every output o = oh * out_w + ow of one plane, in order.
template <class Fn>
void for_each_adaptive_window(const PoolShape& s, Fn fn) {
  for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
    const std::int64_t h0 = math::adaptive_start(oh, s.out_h, s.in_h), h1 = math::adaptive_end(oh, s.out_h, s.in_h);
    for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
      fn(oh * s.out_w + ow,
         AdaptiveWindow{h0, h1, math::adaptive_start(ow, s.out_w, s.in_w), math::adaptive_end(ow, s.out_w, s.in_w)});
    }
  }
}

// fn(p0, p1, scratch) for the planes [p0, p1) of each thread (threads over planes), with the
// scratch buffer the plane kernels need (the same size in every instruction set's copy). The
// kernels take a thread's planes in one call, so that what depends on the shape only is worked
// out once.
template <class Fn>
void for_each_plane_range_with_scratch(const PoolShape& s, bool max_with_indices, Fn fn) {
  parallel_for(
      s.planes,
      [&](std::int64_t p0, std::int64_t p1) {
        std::vector<float> scratch(static_cast<size_t>(isa_portable::pool_scratch_floats(s, max_with_indices)));
        fn(p0, p1, scratch.data());
      },
      plane_grain(s));
}

}  // namespace

void max_pool2d_forward(const PoolShape& s, const float* x, float* y, std::int32_t* indices) {
  const PoolPlaneArgs a{&s, nullptr, nullptr};
  const auto max_planes = FLEXCONV_PICK_ISA(max_pool_planes);
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  for_each_plane_range_with_scratch(s, indices != nullptr, [&](std::int64_t p0, std::int64_t p1, float* scratch) {
    max_planes(a, x + p0 * in_plane, y + p0 * out_plane, indices ? indices + p0 * out_plane : nullptr, scratch,
               p1 - p0);
  });
}

void max_pool2d_backward(const PoolShape& s, const float* dy, const std::int32_t* indices, float* grad_x) {
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  scatter_planes(s.planes, in_plane, out_plane, plane_grain(s), dy, grad_x,
                 [&](float* gp, const float* dp, std::int64_t p) {
                   const std::int32_t* ip = indices + p * out_plane;
                   for (std::int64_t o = 0; o < out_plane; ++o) {
                     const std::int64_t i = ip[o];
                     if (i >= 0 && i < in_plane) gp[i] += dp[o];  // the check guards against foreign index buffers
                   }
                 });
}

void avg_pool2d_forward(const PoolShape& s, const float* x, float* y, bool count_include_pad) {
  std::vector<float> div_h(static_cast<size_t>(s.out_h)), div_w(static_cast<size_t>(s.out_w));
  for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
    div_h[oh] =
        static_cast<float>(math::avg_window(oh, s.in_h, s.kernel_h, s.stride_h, s.pad_h, count_include_pad).divisor);
  }
  for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
    div_w[ow] =
        static_cast<float>(math::avg_window(ow, s.in_w, s.kernel_w, s.stride_w, s.pad_w, count_include_pad).divisor);
  }
  const PoolPlaneArgs a{&s, div_h.data(), div_w.data()};
  const auto avg_planes = FLEXCONV_PICK_ISA(avg_pool_planes);
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  for_each_plane_range_with_scratch(s, false, [&](std::int64_t p0, std::int64_t p1, float* scratch) {
    avg_planes(a, x + p0 * in_plane, y + p0 * out_plane, scratch, p1 - p0);
  });
}

namespace {

// Non-overlapping 2x2 windows without padding (octave convolution's band pooling, U-Net and
// DenseNet transitions): every input pixel is in at most one window, so the gradient is a
// plain 2x broadcast of dy / 4, written once, with no zero pass and no accumulation.
bool is_plain_2x2(const PoolShape& s) {
  return s.kernel_h == 2 && s.kernel_w == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0 &&
         s.dil_h == 1 && s.dil_w == 1 && 2 * s.out_h <= s.in_h && 2 * s.out_w <= s.in_w;
}

void avg_pool2x2_backward(const PoolShape& s, const float* dy, float* grad_x) {
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  for_each_grad_plane(
      s.planes, in_plane, out_plane, plane_grain(s), dy, grad_x, [&](float* gp, const float* dp, std::int64_t) {
        for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
          float* r0 = gp + 2 * oh * s.in_w;
          float* r1 = r0 + s.in_w;
          const float* d = dp + oh * s.out_w;
          for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
            const float g = d[ow] * 0.25f;  // == d / 4 exactly (a power of two)
            r0[2 * ow] = g;
            r0[2 * ow + 1] = g;
          }
          std::memcpy(r1, r0, static_cast<size_t>(2 * s.out_w) * sizeof(float));
          for (std::int64_t iw = 2 * s.out_w; iw < s.in_w; ++iw) r0[iw] = r1[iw] = 0.0f;  // odd width
        }
        // An odd height leaves a last row no window reads.
        std::memset(gp + 2 * s.out_h * s.in_w, 0, static_cast<size_t>((s.in_h - 2 * s.out_h) * s.in_w) * sizeof(float));
      });
}

}  // namespace

void avg_pool2d_backward(const PoolShape& s, const float* dy, float* grad_x, bool count_include_pad) {
  if (is_plain_2x2(s)) {
    avg_pool2x2_backward(s, dy, grad_x);
    return;
  }
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  scatter_planes(
      s.planes, in_plane, out_plane, plane_grain(s), dy, grad_x, [&](float* gp, const float* dp, std::int64_t) {
        for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
          const math::AvgWindow wh = math::avg_window(oh, s.in_h, s.kernel_h, s.stride_h, s.pad_h, count_include_pad);
          for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
            const math::AvgWindow ww = math::avg_window(ow, s.in_w, s.kernel_w, s.stride_w, s.pad_w, count_include_pad);
            const std::int64_t d = wh.divisor * ww.divisor;
            if (d <= 0) continue;
            const float g = dp[oh * s.out_w + ow] / static_cast<float>(d);
            for (std::int64_t ih = wh.start; ih < wh.end; ++ih)
              for (std::int64_t iw = ww.start; iw < ww.end; ++iw) gp[ih * s.in_w + iw] += g;
          }
        }
      });
}

void adaptive_avg_pool2d_forward(const PoolShape& s, const float* x, float* y) {
  const std::int64_t in_plane = s.in_h * s.in_w;
  if (s.out_h == 1 && s.out_w == 1) {
    // Global average pooling: one vectorisable sum per plane.
    parallel_for(
        s.planes,
        [&](std::int64_t p0, std::int64_t p1) {
          for (std::int64_t p = p0; p < p1; ++p) {
            const float* xp = x + p * in_plane;
            float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            std::int64_t i = 0;
            for (; i + 8 <= in_plane; i += 8)
              for (int l = 0; l < 8; ++l) lanes[l] += xp[i + l];
            float sum = 0;
            for (int l = 0; l < 8; ++l) sum += lanes[l];
            for (; i < in_plane; ++i) sum += xp[i];
            y[p] = sum / static_cast<float>(in_plane);
          }
        },
        plane_grain(s));
    return;
  }
  parallel_for(
      s.planes,
      [&](std::int64_t p0, std::int64_t p1) {
        for (std::int64_t p = p0; p < p1; ++p) {
          const float* xp = x + p * in_plane;
          float* yp = y + p * s.out_h * s.out_w;
          for_each_adaptive_window(s, [&](std::int64_t o, const AdaptiveWindow& w) {
            float sum = 0;
            for (std::int64_t ih = w.h0; ih < w.h1; ++ih)
              for (std::int64_t iw = w.w0; iw < w.w1; ++iw) sum += xp[ih * s.in_w + iw];
            yp[o] = sum / w.area();
          });
        }
      },
      plane_grain(s));
}

void adaptive_avg_pool2d_backward(const PoolShape& s, const float* dy, float* grad_x) {
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  for_each_grad_plane(s.planes, in_plane, out_plane, plane_grain(s), dy, grad_x,
                      [&](float* gp, const float* dp, std::int64_t) {
                        if (out_plane == 1) {
                          const float g = dp[0] / static_cast<float>(in_plane);
                          for (std::int64_t i = 0; i < in_plane; ++i) gp[i] = g;
                          return;
                        }
                        std::memset(gp, 0, static_cast<size_t>(in_plane) * sizeof(float));
                        for_each_adaptive_window(s, [&](std::int64_t o, const AdaptiveWindow& w) {
                          const float g = dp[o] / w.area();
                          for (std::int64_t ih = w.h0; ih < w.h1; ++ih)
                            for (std::int64_t iw = w.w0; iw < w.w1; ++iw) gp[ih * s.in_w + iw] += g;
                        });
                      });
}

}  // namespace cpu
}  // namespace flexconv
