// CPU grid_sample. The forward splits (batch, block of output pixels) tasks across threads
// and computes each pixel's taps once for all channels. The backward runs two passes so every
// written element has one owner: grad_input by (batch, channel) plane (each thread scatters
// into its own planes), grad_grid by (batch, block of output pixels) (each pixel reduces over
// channels).
//
// Channels are the outer loop inside a pixel block: walking all channels for one pixel
// would touch C planes at the same offset, and planes of a power-of-two size (32x32 floats =
// 4 KB) all map to the same L1 set, so every access missed (the forward ran at ~0.5x ONNX
// Runtime's GridSample). A block reads one plane at a time and writes contiguous outputs.
// Images beyond L2 (C planes together over 1 MB) go plane by plane over all pixels instead,
// so that each plane is fetched from memory once, not once per block (forward_plane_major).
#include "ops/grid_sample.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"
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
    t.tx = t.ty = 0.0f;
    return t;
  }
  const math::GridBilinear b = math::grid_bilinear(iy, ix);
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

// Output pixels per task: their taps (80 bytes each) stay in L1 while every channel runs.
constexpr std::int64_t kPixelBlock = 64;

// Calls fn(n, first pixel, pixel count) for every (batch, block of output pixels), in parallel.
template <typename Fn>
void for_each_pixel_block(const GridSampleShape& s, Fn&& fn) {
  const std::int64_t out_plane = s.out_h * s.out_w;
  const std::int64_t blocks = (out_plane + kPixelBlock - 1) / kPixelBlock;
  parallel_for(s.n * blocks, [&](std::int64_t t0, std::int64_t t1) {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t n = t / blocks, p0 = (t % blocks) * kPixelBlock;
      fn(n, p0, std::min(kPixelBlock, out_plane - p0));
    }
  });
}

}  // namespace

namespace {

// The forward's view of one pixel's taps: 32 bytes instead of Taps' 80, so a whole image's
// taps stream from L2 quickly.
struct SampleTaps {
  std::int32_t idx[4];  // -1 when outside
  float w[4];
};

inline SampleTaps sample_taps(const GridSampleShape& s, float gx, float gy) {
  const Taps t = make_taps(s, gx, gy);
  SampleTaps r;
  for (int k = 0; k < 4; ++k) {
    r.idx[k] = static_cast<std::int32_t>(t.idx[k]);
    r.w[k] = t.w[k];
  }
  return r;
}

// One output value (both forwards: Taps or SampleTaps).
template <class AnyTaps>
inline float sample(const float* plane, const AnyTaps& t) {
  float v = 0.0f;
  for (int k = 0; k < 4; ++k)
    if (t.idx[k] >= 0) v += t.w[k] * plane[t.idx[k]];
  return v;
}

// Images whose planes together exceed this (bytes) run plane by plane: a block of pixels
// sampling all channels would then fetch each plane's lines from memory once per block (for
// scattered grids, every block touches most lines of every plane).
constexpr std::int64_t kPlaneMajorImageBytes = 1 << 20;

// Plane-major forward: each image's taps once (threads over pixels), then threads over
// channels, each plane read once while all its pixels are sampled.
void forward_plane_major(const GridSampleShape& s, const float* input, const float* grid, float* out) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  std::vector<SampleTaps> taps(static_cast<size_t>(out_plane));
  for (std::int64_t n = 0; n < s.n; ++n) {
    const float* g = grid + 2 * n * out_plane;
    parallel_for(out_plane, [&](std::int64_t j0, std::int64_t j1) {
      for (std::int64_t j = j0; j < j1; ++j) {
        taps[static_cast<size_t>(j)] = sample_taps(s, g[2 * j], g[2 * j + 1]);
      }
    });
    parallel_for(s.c, [&](std::int64_t c0, std::int64_t c1) {
      for (std::int64_t c = c0; c < c1; ++c) {
        const float* plane = input + (n * s.c + c) * in_plane;
        float* dst = out + (n * s.c + c) * out_plane;
        for (std::int64_t j = 0; j < out_plane; ++j) dst[j] = sample(plane, taps[static_cast<size_t>(j)]);
      }
    });
  }
}

}  // namespace

void grid_sample2d_forward(const GridSampleShape& s, const float* input, const float* grid, float* out) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  if (in_plane >= (std::int64_t{1} << 31)) {  // SampleTaps holds 32-bit indices
    throw Error(ErrorCode::InvalidArgument, "gridSample: expected input planes below 2^31 pixels but received " +
                                                std::to_string(s.in_h) + "x" + std::to_string(s.in_w));
  }
  if (s.c * in_plane * static_cast<std::int64_t>(sizeof(float)) > kPlaneMajorImageBytes) {
    forward_plane_major(s, input, grid, out);
    return;
  }
  for_each_pixel_block(s, [&](std::int64_t n, std::int64_t p0, std::int64_t count) {
    Taps taps[kPixelBlock];
    const float* g = grid + 2 * (n * out_plane + p0);
    for (std::int64_t j = 0; j < count; ++j) taps[j] = make_taps(s, g[2 * j], g[2 * j + 1]);
    for (std::int64_t c = 0; c < s.c; ++c) {
      const float* plane = input + (n * s.c + c) * in_plane;
      float* dst = out + (n * s.c + c) * out_plane + p0;
      for (std::int64_t j = 0; j < count; ++j) dst[j] = sample(plane, taps[j]);
    }
  });
}

void grid_sample2d_backward(const GridSampleShape& s, const float* dy, const float* input, const float* grid,
                            float* grad_input, float* grad_grid) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  // The taps of every (batch, output pixel), computed once and shared by both passes (the
  // input-gradient pass would otherwise recompute them for every channel).
  std::vector<Taps> taps(static_cast<size_t>(s.n * out_plane));
  parallel_for(
      s.n * out_plane,
      [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t i = b; i < e; ++i) taps[i] = make_taps(s, grid[2 * i], grid[2 * i + 1]);
      },
      256);
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
  if (s.mode == GridMode::Nearest) {
    // Piecewise constant in the grid: zero gradient, as in PyTorch.
    std::memset(grad_grid, 0, static_cast<size_t>(2 * s.n * out_plane) * sizeof(float));
    return;
  }
  for_each_pixel_block(s, [&](std::int64_t n, std::int64_t p0, std::int64_t count) {
    const Taps* tp = taps.data() + n * out_plane + p0;
    // d out / d ix = sum over corners of value * d weight / d ix; corners outside count 0.
    // Summed over channels in increasing order for each pixel.
    float gix[kPixelBlock] = {}, giy[kPixelBlock] = {};
    for (std::int64_t c = 0; c < s.c; ++c) {
      const float* plane = input + (n * s.c + c) * in_plane;
      const float* d = dy + (n * s.c + c) * out_plane + p0;
      for (std::int64_t j = 0; j < count; ++j) {
        const Taps& t = tp[j];
        // idx[] holds the nw, ne, sw, se corners (bilinear), -1 where outside the input.
        const float v_nw = t.idx[0] >= 0 ? plane[t.idx[0]] : 0.0f;
        const float v_ne = t.idx[1] >= 0 ? plane[t.idx[1]] : 0.0f;
        const float v_sw = t.idx[2] >= 0 ? plane[t.idx[2]] : 0.0f;
        const float v_se = t.idx[3] >= 0 ? plane[t.idx[3]] : 0.0f;
        gix[j] += d[j] * ((v_ne - v_nw) * (1 - t.ty) + (v_se - v_sw) * t.ty);
        giy[j] += d[j] * ((v_sw - v_nw) * (1 - t.tx) + (v_se - v_ne) * t.tx);
      }
    }
    float* gg = grad_grid + 2 * (n * out_plane + p0);
    for (std::int64_t j = 0; j < count; ++j) {
      gg[2 * j] = gix[j] * tp[j].gx_mult;
      gg[2 * j + 1] = giy[j] * tp[j].gy_mult;
    }
  });
}

}  // namespace cpu
}  // namespace flexconv
