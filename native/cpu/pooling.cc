// CPU pooling. Threads split the N*C planes, so every output and every gradient element is
// written by exactly one thread (deterministic at any thread count). Within a plane the
// forward passes work one output row at a time and loop over kernel taps outermost, with
// the innermost loop running along the output row: contiguous for stride 1, and no bounds
// tests inside it (the valid output range of each tap is computed first).
#include "cpu/pooling.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "math/pooling.h"

namespace flexconv {
namespace cpu {
namespace {

// Output columns [lo, hi) for which input column ow*stride - pad + offset lies in [0, in_w).
void valid_range(std::int64_t offset, std::int64_t stride, std::int64_t pad, std::int64_t in_w,
                 std::int64_t out_w, std::int64_t* lo, std::int64_t* hi) {
  // iw = ow*stride + (offset - pad) >= 0  <=>  ow >= ceil((pad - offset) / stride)
  const std::int64_t shift = offset - pad;
  std::int64_t l = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  // iw <= in_w - 1  <=>  ow <= floor((in_w - 1 - shift) / stride)
  const std::int64_t top = in_w - 1 - shift;
  std::int64_t h = top < 0 ? 0 : top / stride + 1;
  if (h > out_w) h = out_w;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

// Planes per task: enough work per parallel chunk without starving the second thread.
std::int64_t plane_grain(const PoolShape& s) {
  const std::int64_t work = (s.out_h * s.out_w + s.in_h * s.in_w) + 1;
  return work >= 4096 ? 1 : 4096 / work;
}

}  // namespace

void max_pool2d_forward(const PoolShape& s, const float* x, float* y, std::int32_t* indices) {
  parallel_for(s.planes, [&](std::int64_t p0, std::int64_t p1) {
    std::vector<std::int64_t> lo(static_cast<size_t>(s.kernel_w)), hi(static_cast<size_t>(s.kernel_w));
    for (std::int64_t kw = 0; kw < s.kernel_w; ++kw) {
      valid_range(kw * s.dil_w, s.stride_w, s.pad_w, s.in_w, s.out_w, &lo[kw], &hi[kw]);
    }
    for (std::int64_t p = p0; p < p1; ++p) {
      const float* xp = x + p * s.in_h * s.in_w;
      for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
        float* yr = y + (p * s.out_h + oh) * s.out_w;
        std::int32_t* ir = indices + (p * s.out_h + oh) * s.out_w;
        for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
          yr[ow] = -std::numeric_limits<float>::infinity();
          ir[ow] = -1;
        }
        for (std::int64_t kh = 0; kh < s.kernel_h; ++kh) {
          const std::int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dil_h;
          if (ih < 0 || ih >= s.in_h) continue;
          const float* row = xp + ih * s.in_w;
          for (std::int64_t kw = 0; kw < s.kernel_w; ++kw) {
            const std::int64_t shift = kw * s.dil_w - s.pad_w;
            const std::int32_t base = static_cast<std::int32_t>(ih * s.in_w + shift);
            const std::int64_t sw = s.stride_w;
            // Taps in (kh, kw) order with a strict '>' keep PyTorch's first-maximum tie rule.
            for (std::int64_t ow = lo[kw]; ow < hi[kw]; ++ow) {
              const float v = row[ow * sw + shift];
              const bool take = v > yr[ow] || std::isnan(v);
              yr[ow] = take ? v : yr[ow];
              ir[ow] = take ? base + static_cast<std::int32_t>(ow * sw) : ir[ow];
            }
          }
        }
      }
    }
  }, plane_grain(s));
}

void max_pool2d_backward(const PoolShape& s, const float* dy, const std::int32_t* indices, float* grad_x) {
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  parallel_for(s.planes, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      float* gp = grad_x + p * in_plane;
      std::memset(gp, 0, static_cast<size_t>(in_plane) * sizeof(float));
      const float* dp = dy + p * out_plane;
      const std::int32_t* ip = indices + p * out_plane;
      for (std::int64_t o = 0; o < out_plane; ++o) {
        const std::int64_t i = ip[o];
        if (i >= 0 && i < in_plane) gp[i] += dp[o];  // the check guards against foreign index buffers
      }
    }
  }, plane_grain(s));
}

void avg_pool2d_forward(const PoolShape& s, const float* x, float* y, bool count_include_pad) {
  parallel_for(s.planes, [&](std::int64_t p0, std::int64_t p1) {
    std::vector<std::int64_t> lo(static_cast<size_t>(s.kernel_w)), hi(static_cast<size_t>(s.kernel_w));
    std::vector<float> inv_w(static_cast<size_t>(s.out_w));
    for (std::int64_t kw = 0; kw < s.kernel_w; ++kw) {
      valid_range(kw, s.stride_w, s.pad_w, s.in_w, s.out_w, &lo[kw], &hi[kw]);
    }
    std::vector<std::int64_t> div_w(static_cast<size_t>(s.out_w));
    for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
      div_w[ow] = math::avg_window(ow, s.in_w, s.kernel_w, s.stride_w, s.pad_w, count_include_pad).divisor;
    }
    for (std::int64_t p = p0; p < p1; ++p) {
      const float* xp = x + p * s.in_h * s.in_w;
      for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
        const math::AvgWindow wh = math::avg_window(oh, s.in_h, s.kernel_h, s.stride_h, s.pad_h, count_include_pad);
        float* yr = y + (p * s.out_h + oh) * s.out_w;
        for (std::int64_t ow = 0; ow < s.out_w; ++ow) yr[ow] = 0.0f;
        for (std::int64_t ih = wh.start; ih < wh.end; ++ih) {
          const float* row = xp + ih * s.in_w;
          for (std::int64_t kw = 0; kw < s.kernel_w; ++kw) {
            const std::int64_t shift = kw - s.pad_w;
            const std::int64_t sw = s.stride_w;
            for (std::int64_t ow = lo[kw]; ow < hi[kw]; ++ow) yr[ow] += row[ow * sw + shift];
          }
        }
        for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
          const std::int64_t d = wh.divisor * div_w[ow];
          yr[ow] = d > 0 ? yr[ow] / static_cast<float>(d) : 0.0f;
        }
      }
    }
  }, plane_grain(s));
}

void avg_pool2d_backward(const PoolShape& s, const float* dy, float* grad_x, bool count_include_pad) {
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  parallel_for(s.planes, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      float* gp = grad_x + p * in_plane;
      std::memset(gp, 0, static_cast<size_t>(in_plane) * sizeof(float));
      const float* dp = dy + p * out_plane;
      for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
        const math::AvgWindow wh = math::avg_window(oh, s.in_h, s.kernel_h, s.stride_h, s.pad_h, count_include_pad);
        for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
          const math::AvgWindow ww =
              math::avg_window(ow, s.in_w, s.kernel_w, s.stride_w, s.pad_w, count_include_pad);
          const std::int64_t d = wh.divisor * ww.divisor;
          if (d <= 0) continue;
          const float g = dp[oh * s.out_w + ow] / static_cast<float>(d);
          for (std::int64_t ih = wh.start; ih < wh.end; ++ih)
            for (std::int64_t iw = ww.start; iw < ww.end; ++iw) gp[ih * s.in_w + iw] += g;
        }
      }
    }
  }, plane_grain(s));
}

void adaptive_avg_pool2d_forward(const PoolShape& s, const float* x, float* y) {
  const std::int64_t in_plane = s.in_h * s.in_w;
  if (s.out_h == 1 && s.out_w == 1) {
    // Global average pooling: one vectorisable sum per plane.
    parallel_for(s.planes, [&](std::int64_t p0, std::int64_t p1) {
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
    }, plane_grain(s));
    return;
  }
  parallel_for(s.planes, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      const float* xp = x + p * in_plane;
      for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
        const std::int64_t h0 = math::adaptive_start(oh, s.out_h, s.in_h), h1 = math::adaptive_end(oh, s.out_h, s.in_h);
        for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
          const std::int64_t w0 = math::adaptive_start(ow, s.out_w, s.in_w);
          const std::int64_t w1 = math::adaptive_end(ow, s.out_w, s.in_w);
          float sum = 0;
          for (std::int64_t ih = h0; ih < h1; ++ih)
            for (std::int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * s.in_w + iw];
          y[(p * s.out_h + oh) * s.out_w + ow] = sum / static_cast<float>((h1 - h0) * (w1 - w0));
        }
      }
    }
  }, plane_grain(s));
}

void adaptive_avg_pool2d_backward(const PoolShape& s, const float* dy, float* grad_x) {
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  parallel_for(s.planes, [&](std::int64_t p0, std::int64_t p1) {
    for (std::int64_t p = p0; p < p1; ++p) {
      float* gp = grad_x + p * in_plane;
      const float* dp = dy + p * out_plane;
      if (out_plane == 1) {
        const float g = dp[0] / static_cast<float>(in_plane);
        for (std::int64_t i = 0; i < in_plane; ++i) gp[i] = g;
        continue;
      }
      std::memset(gp, 0, static_cast<size_t>(in_plane) * sizeof(float));
      for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
        const std::int64_t h0 = math::adaptive_start(oh, s.out_h, s.in_h), h1 = math::adaptive_end(oh, s.out_h, s.in_h);
        for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
          const std::int64_t w0 = math::adaptive_start(ow, s.out_w, s.in_w);
          const std::int64_t w1 = math::adaptive_end(ow, s.out_w, s.in_w);
          const float g = dp[oh * s.out_w + ow] / static_cast<float>((h1 - h0) * (w1 - w0));
          for (std::int64_t ih = h0; ih < h1; ++ih)
            for (std::int64_t iw = w0; iw < w1; ++iw) gp[ih * s.in_w + iw] += g;
        }
      }
    }
  }, plane_grain(s));
}

}  // namespace cpu
}  // namespace flexconv
