// CUDA pooling: one thread per output for the forwards. The backwards of average and
// adaptive pooling gather (one thread per input element sums the outputs whose windows
// cover it), so they are deterministic; max pooling scatters its gradients with atomicAdd.
#include <cuda_runtime.h>

#include "ops/pooling.h"
#include "cuda/runtime.h"
#include "cuda/launch.cuh"
#include "math/pooling.h"

namespace flexconv {
namespace cuda {
namespace {

__global__ void max_forward_kernel(PoolShape s, const float* x, float* y, std::int32_t* indices) {
  const std::int64_t total = s.planes * s.out_h * s.out_w;
  FLEXCONV_GRID_STRIDE(i, total) {
    const std::int64_t ow = i % s.out_w, oh = (i / s.out_w) % s.out_h, p = i / (s.out_w * s.out_h);
    const float* xp = x + p * s.in_h * s.in_w;
    float best = -INFINITY;
    std::int32_t arg = -1;
    for (std::int64_t kh = 0; kh < s.kernel_h; ++kh) {
      const std::int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dil_h;
      if (ih < 0 || ih >= s.in_h) continue;
      for (std::int64_t kw = 0; kw < s.kernel_w; ++kw) {
        const std::int64_t iw = ow * s.stride_w - s.pad_w + kw * s.dil_w;
        if (iw < 0 || iw >= s.in_w) continue;
        const float v = xp[ih * s.in_w + iw];
        if (v > best || isnan(v)) {
          best = v;
          arg = static_cast<std::int32_t>(ih * s.in_w + iw);
        }
      }
    }
    y[i] = best;
    if (indices) indices[i] = arg;
  }
}

__global__ void max_backward_kernel(PoolShape s, const float* dy, const std::int32_t* indices, float* grad_x) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  FLEXCONV_GRID_STRIDE(i, s.planes * out_plane) {
    const std::int64_t idx = indices[i];
    if (idx >= 0 && idx < in_plane) atomicAdd(grad_x + (i / out_plane) * in_plane + idx, dy[i]);
  }
}

__global__ void avg_forward_kernel(PoolShape s, const float* x, float* y, bool include_pad) {
  FLEXCONV_GRID_STRIDE(i, s.planes * s.out_h * s.out_w) {
    const std::int64_t ow = i % s.out_w, oh = (i / s.out_w) % s.out_h, p = i / (s.out_w * s.out_h);
    const math::AvgWindow wh = math::avg_window(oh, s.in_h, s.kernel_h, s.stride_h, s.pad_h, include_pad);
    const math::AvgWindow ww = math::avg_window(ow, s.in_w, s.kernel_w, s.stride_w, s.pad_w, include_pad);
    const float* xp = x + p * s.in_h * s.in_w;
    float sum = 0.0f;
    for (std::int64_t ih = wh.start; ih < wh.end; ++ih)
      for (std::int64_t iw = ww.start; iw < ww.end; ++iw) sum += xp[ih * s.in_w + iw];
    const std::int64_t d = wh.divisor * ww.divisor;
    y[i] = d > 0 ? sum / static_cast<float>(d) : 0.0f;
  }
}

// Outputs o along one axis whose (unclipped) window [o*stride - pad, +kernel) covers index i.
__device__ void covering(std::int64_t i, std::int64_t kernel, std::int64_t stride, std::int64_t pad, std::int64_t out,
                         std::int64_t* lo, std::int64_t* hi) {
  const std::int64_t t = i + pad;
  *lo = t < kernel ? 0 : (t - kernel) / stride + 1;
  std::int64_t h = t / stride + 1;
  *hi = h < out ? h : out;
}

__global__ void avg_backward_kernel(PoolShape s, const float* dy, float* grad_x, bool include_pad) {
  FLEXCONV_GRID_STRIDE(i, s.planes * s.in_h * s.in_w) {
    const std::int64_t iw = i % s.in_w, ih = (i / s.in_w) % s.in_h, p = i / (s.in_w * s.in_h);
    std::int64_t oh0, oh1, ow0, ow1;
    covering(ih, s.kernel_h, s.stride_h, s.pad_h, s.out_h, &oh0, &oh1);
    covering(iw, s.kernel_w, s.stride_w, s.pad_w, s.out_w, &ow0, &ow1);
    const float* dp = dy + p * s.out_h * s.out_w;
    float g = 0.0f;
    for (std::int64_t oh = oh0; oh < oh1; ++oh) {
      const math::AvgWindow wh = math::avg_window(oh, s.in_h, s.kernel_h, s.stride_h, s.pad_h, include_pad);
      if (ih < wh.start || ih >= wh.end) continue;
      for (std::int64_t ow = ow0; ow < ow1; ++ow) {
        const math::AvgWindow ww = math::avg_window(ow, s.in_w, s.kernel_w, s.stride_w, s.pad_w, include_pad);
        if (iw < ww.start || iw >= ww.end) continue;
        const std::int64_t d = wh.divisor * ww.divisor;
        if (d > 0) g += dp[oh * s.out_w + ow] / static_cast<float>(d);
      }
    }
    grad_x[i] = g;
  }
}

__global__ void adaptive_forward_kernel(PoolShape s, const float* x, float* y) {
  FLEXCONV_GRID_STRIDE(i, s.planes * s.out_h * s.out_w) {
    const std::int64_t ow = i % s.out_w, oh = (i / s.out_w) % s.out_h, p = i / (s.out_w * s.out_h);
    const std::int64_t h0 = math::adaptive_start(oh, s.out_h, s.in_h), h1 = math::adaptive_end(oh, s.out_h, s.in_h);
    const std::int64_t w0 = math::adaptive_start(ow, s.out_w, s.in_w), w1 = math::adaptive_end(ow, s.out_w, s.in_w);
    const float* xp = x + p * s.in_h * s.in_w;
    float sum = 0.0f;
    for (std::int64_t ih = h0; ih < h1; ++ih)
      for (std::int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * s.in_w + iw];
    y[i] = sum / static_cast<float>((h1 - h0) * (w1 - w0));
  }
}

__global__ void adaptive_backward_kernel(PoolShape s, const float* dy, float* grad_x) {
  FLEXCONV_GRID_STRIDE(i, s.planes * s.in_h * s.in_w) {
    const std::int64_t iw = i % s.in_w, ih = (i / s.in_w) % s.in_h, p = i / (s.in_w * s.in_h);
    // Output cells covering ih: start(o) <= ih < end(o); windows overlap by at most one, so
    // scan from the cell that starts at or before ih.
    const std::int64_t oh_first = (ih * s.out_h) / s.in_h, ow_first = (iw * s.out_w) / s.in_w;
    const float* dp = dy + p * s.out_h * s.out_w;
    float g = 0.0f;
    for (std::int64_t oh = oh_first > 0 ? oh_first - 1 : 0; oh < s.out_h; ++oh) {
      const std::int64_t h0 = math::adaptive_start(oh, s.out_h, s.in_h), h1 = math::adaptive_end(oh, s.out_h, s.in_h);
      if (h0 > ih) break;
      if (ih >= h1) continue;
      for (std::int64_t ow = ow_first > 0 ? ow_first - 1 : 0; ow < s.out_w; ++ow) {
        const std::int64_t w0 = math::adaptive_start(ow, s.out_w, s.in_w), w1 = math::adaptive_end(ow, s.out_w, s.in_w);
        if (w0 > iw) break;
        if (iw >= w1) continue;
        g += dp[oh * s.out_w + ow] / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
    grad_x[i] = g;
  }
}

}  // namespace

void max_pool2d_forward(const PoolShape& s, const float* x, float* y, std::int32_t* indices) {
  const std::int64_t n = s.planes * s.out_h * s.out_w;
  if (n == 0) return;
  max_forward_kernel<<<grid_blocks(n), kThreads>>>(s, x, y, indices);
  check_last_launch("max_pool2d_forward");
}

void max_pool2d_backward(const PoolShape& s, const float* dy, const std::int32_t* indices, float* grad_x) {
  const std::int64_t n = s.planes * s.out_h * s.out_w;
  fill(grad_x, 0.0f, static_cast<std::size_t>(s.planes * s.in_h * s.in_w));
  if (n == 0) return;
  max_backward_kernel<<<grid_blocks(n), kThreads>>>(s, dy, indices, grad_x);
  check_last_launch("max_pool2d_backward");
}

void avg_pool2d_forward(const PoolShape& s, const float* x, float* y, bool count_include_pad) {
  const std::int64_t n = s.planes * s.out_h * s.out_w;
  if (n == 0) return;
  avg_forward_kernel<<<grid_blocks(n), kThreads>>>(s, x, y, count_include_pad);
  check_last_launch("avg_pool2d_forward");
}

void avg_pool2d_backward(const PoolShape& s, const float* dy, float* grad_x, bool count_include_pad) {
  const std::int64_t n = s.planes * s.in_h * s.in_w;
  if (n == 0) return;
  avg_backward_kernel<<<grid_blocks(n), kThreads>>>(s, dy, grad_x, count_include_pad);
  check_last_launch("avg_pool2d_backward");
}

void adaptive_avg_pool2d_forward(const PoolShape& s, const float* x, float* y) {
  const std::int64_t n = s.planes * s.out_h * s.out_w;
  if (n == 0) return;
  adaptive_forward_kernel<<<grid_blocks(n), kThreads>>>(s, x, y);
  check_last_launch("adaptive_avg_pool2d_forward");
}

void adaptive_avg_pool2d_backward(const PoolShape& s, const float* dy, float* grad_x) {
  const std::int64_t n = s.planes * s.in_h * s.in_w;
  if (n == 0) return;
  adaptive_backward_kernel<<<grid_blocks(n), kThreads>>>(s, dy, grad_x);
  check_last_launch("adaptive_avg_pool2d_backward");
}

}  // namespace cuda
}  // namespace flexconv
