// CPU grid_sample. The forward splits (batch, output pixel) ranges across threads and
// computes each pixel's taps once for all channels. The backward runs two passes so every
// written element has one owner: grad_input by (batch, channel) plane (each thread scatters
// into its own planes), grad_grid by (batch, output pixel) (each pixel reduces over channels).
#include "cpu/grid_sample.h"

#include <cstring>
#include <vector>

#include "core/thread_pool.h"

namespace flexconv {
namespace cpu {
namespace {

using math::GridMode;
using math::GridPadding;

// The sampling taps of one output pixel: up to four corners with weights (nearest: one).
struct Taps {
  std::int64_t idx[4];  // flat index within the input plane, or -1 when outside
  float w[4];
  // For the grid gradient (bilinear): the fractional parts and the d(pixel)/d(grid) factors.
  std::int64_t x0, y0;
  float tx, ty, gx_mult, gy_mult;
};

inline Taps make_taps(const GridSampleShape& s, float gx, float gy) {
  Taps t;
  const float ix = math::grid_source_index(gx, s.in_w, s.padding, s.align_corners, &t.gx_mult);
  const float iy = math::grid_source_index(gy, s.in_h, s.padding, s.align_corners, &t.gy_mult);
  if (s.mode == GridMode::Nearest) {
    const std::int64_t x = math::grid_nearest(ix), y = math::grid_nearest(iy);
    t.idx[0] = math::grid_in_bounds(y, x, s.in_h, s.in_w) ? y * s.in_w + x : -1;
    t.w[0] = 1.0f;
    for (int k = 1; k < 4; ++k) {
      t.idx[k] = -1;
      t.w[k] = 0.0f;
    }
    t.x0 = x;
    t.y0 = y;
    t.tx = t.ty = 0.0f;
    return t;
  }
  const math::GridBilinear b = math::grid_bilinear(iy, ix);
  t.x0 = b.x0;
  t.y0 = b.y0;
  t.tx = b.tx;
  t.ty = b.ty;
  const std::int64_t xs[4] = {b.x0, b.x0 + 1, b.x0, b.x0 + 1};
  const std::int64_t ys[4] = {b.y0, b.y0, b.y0 + 1, b.y0 + 1};
  const float ws[4] = {(1 - b.tx) * (1 - b.ty), b.tx * (1 - b.ty), (1 - b.tx) * b.ty, b.tx * b.ty};
  for (int k = 0; k < 4; ++k) {
    const bool in = math::grid_in_bounds(ys[k], xs[k], s.in_h, s.in_w);
    t.idx[k] = in ? ys[k] * s.in_w + xs[k] : -1;
    t.w[k] = in ? ws[k] : 0.0f;
  }
  return t;
}

}  // namespace

void grid_sample2d_forward(const GridSampleShape& s, const float* input, const float* grid, float* out) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  parallel_for(s.n * out_plane, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const std::int64_t n = i / out_plane, pix = i % out_plane;
      const Taps t = make_taps(s, grid[2 * i], grid[2 * i + 1]);
      const float* src = input + n * s.c * in_plane;
      float* dst = out + n * s.c * out_plane + pix;
      for (std::int64_t c = 0; c < s.c; ++c) {
        const float* plane = src + c * in_plane;
        float v = 0.0f;
        for (int k = 0; k < 4; ++k)
          if (t.idx[k] >= 0) v += t.w[k] * plane[t.idx[k]];
        dst[c * out_plane] = v;
      }
    }
  }, 64);
}

void grid_sample2d_backward(const GridSampleShape& s, const float* dy, const float* input, const float* grid,
                            float* grad_input, float* grad_grid) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  // The taps of every (batch, output pixel), computed once and shared by both passes (the
  // input-gradient pass would otherwise recompute them for every channel).
  std::vector<Taps> taps(static_cast<size_t>(s.n * out_plane));
  parallel_for(s.n * out_plane, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) taps[i] = make_taps(s, grid[2 * i], grid[2 * i + 1]);
  }, 256);
  if (grad_input != nullptr) {
    parallel_for(s.n * s.c, [&](std::int64_t p0, std::int64_t p1) {
      for (std::int64_t p = p0; p < p1; ++p) {
        const std::int64_t n = p / s.c;
        float* g = grad_input + p * in_plane;
        std::memset(g, 0, static_cast<size_t>(in_plane) * sizeof(float));
        const float* d = dy + p * out_plane;
        const Taps* tp = taps.data() + n * out_plane;
        for (std::int64_t pix = 0; pix < out_plane; ++pix) {
          const Taps& t = tp[pix];
          for (int k = 0; k < 4; ++k)
            if (t.idx[k] >= 0) g[t.idx[k]] += t.w[k] * d[pix];
        }
      }
    });
  }
  if (grad_grid == nullptr) return;
  parallel_for(s.n * out_plane, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const std::int64_t n = i / out_plane, pix = i % out_plane;
      if (s.mode == GridMode::Nearest) {
        // Piecewise constant in the grid: zero gradient, as in PyTorch.
        grad_grid[2 * i] = grad_grid[2 * i + 1] = 0.0f;
        continue;
      }
      const Taps& t = taps[i];
      // d out / d ix = sum over corners of value * d weight / d ix; corners outside count 0.
      const bool in_nw = math::grid_in_bounds(t.y0, t.x0, s.in_h, s.in_w);
      const bool in_ne = math::grid_in_bounds(t.y0, t.x0 + 1, s.in_h, s.in_w);
      const bool in_sw = math::grid_in_bounds(t.y0 + 1, t.x0, s.in_h, s.in_w);
      const bool in_se = math::grid_in_bounds(t.y0 + 1, t.x0 + 1, s.in_h, s.in_w);
      const std::int64_t nw = t.y0 * s.in_w + t.x0;
      float gix = 0.0f, giy = 0.0f;
      for (std::int64_t c = 0; c < s.c; ++c) {
        const float* plane = input + (n * s.c + c) * in_plane;
        const float g = dy[(n * s.c + c) * out_plane + pix];
        const float v_nw = in_nw ? plane[nw] : 0.0f;
        const float v_ne = in_ne ? plane[nw + 1] : 0.0f;
        const float v_sw = in_sw ? plane[nw + s.in_w] : 0.0f;
        const float v_se = in_se ? plane[nw + s.in_w + 1] : 0.0f;
        gix += g * ((v_ne - v_nw) * (1 - t.ty) + (v_se - v_sw) * t.ty);
        giy += g * ((v_sw - v_nw) * (1 - t.tx) + (v_se - v_ne) * t.tx);
      }
      grad_grid[2 * i] = gix * t.gx_mult;
      grad_grid[2 * i + 1] = giy * t.gy_mult;
    }
  }, 64);
}

}  // namespace cpu
}  // namespace flexconv
