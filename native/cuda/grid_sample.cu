// CUDA grid_sample: one thread per (batch, output pixel), looping over channels, with the
// coordinate math of math/grid_sample.h. The backward owns its pixel's grid gradient and
// scatters the input gradient with atomicAdd.
#include <cuda_runtime.h>

#include "ops/grid_sample.h"
#include "cuda/runtime.h"
#include "cuda/launch.cuh"

namespace flexconv {
namespace cuda {
namespace {

using math::GridMode;

struct Point {
  float ix, iy, gx_mult, gy_mult;
};

__device__ Point source_point(const GridSampleShape& s, const float* grid, std::int64_t i) {
  Point p;
  p.ix = math::grid_source_index(grid[2 * i], s.in_w, s.padding, s.align_corners, &p.gx_mult);
  p.iy = math::grid_source_index(grid[2 * i + 1], s.in_h, s.padding, s.align_corners, &p.gy_mult);
  return p;
}

__device__ float pixel(const float* plane, const GridSampleShape& s, std::int64_t y, std::int64_t x) {
  return math::grid_in_bounds(y, x, s.in_h, s.in_w) ? plane[y * s.in_w + x] : 0.0f;
}

__global__ void grid_forward_kernel(GridSampleShape s, const float* input, const float* grid, float* out) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  FLEXCONV_GRID_STRIDE(i, s.n * out_plane) {
    const std::int64_t n = i / out_plane, pix = i % out_plane;
    const Point p = source_point(s, grid, i);
    for (std::int64_t c = 0; c < s.c; ++c) {
      const float* plane = input + (n * s.c + c) * in_plane;
      float v;
      if (s.mode == GridMode::Nearest) {
        v = pixel(plane, s, math::grid_nearest(p.iy), math::grid_nearest(p.ix));
      } else {
        const math::GridBilinear b = math::grid_bilinear(p.iy, p.ix);
        v = pixel(plane, s, b.y0, b.x0) * (1 - b.tx) * (1 - b.ty) +
            pixel(plane, s, b.y0, b.x0 + 1) * b.tx * (1 - b.ty) + pixel(plane, s, b.y0 + 1, b.x0) * (1 - b.tx) * b.ty +
            pixel(plane, s, b.y0 + 1, b.x0 + 1) * b.tx * b.ty;
      }
      out[(n * s.c + c) * out_plane + pix] = v;
    }
  }
}

__device__ void scatter(float* plane, const GridSampleShape& s, std::int64_t y, std::int64_t x, float v) {
  if (math::grid_in_bounds(y, x, s.in_h, s.in_w)) atomicAdd(plane + y * s.in_w + x, v);
}

__global__ void grid_backward_kernel(GridSampleShape s, const float* dy, const float* input, const float* grid,
                                     float* grad_input, float* grad_grid) {
  const std::int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  FLEXCONV_GRID_STRIDE(i, s.n * out_plane) {
    const std::int64_t n = i / out_plane, pix = i % out_plane;
    const Point p = source_point(s, grid, i);
    if (s.mode == GridMode::Nearest) {
      if (grad_input) {
        const std::int64_t y = math::grid_nearest(p.iy), x = math::grid_nearest(p.ix);
        for (std::int64_t c = 0; c < s.c; ++c)
          scatter(grad_input + (n * s.c + c) * in_plane, s, y, x, dy[(n * s.c + c) * out_plane + pix]);
      }
      if (grad_grid) grad_grid[2 * i] = grad_grid[2 * i + 1] = 0.0f;
      continue;
    }
    const math::GridBilinear b = math::grid_bilinear(p.iy, p.ix);
    float gix = 0.0f, giy = 0.0f;
    for (std::int64_t c = 0; c < s.c; ++c) {
      const float g = dy[(n * s.c + c) * out_plane + pix];
      if (grad_input) {
        float* gp = grad_input + (n * s.c + c) * in_plane;
        scatter(gp, s, b.y0, b.x0, (1 - b.tx) * (1 - b.ty) * g);
        scatter(gp, s, b.y0, b.x0 + 1, b.tx * (1 - b.ty) * g);
        scatter(gp, s, b.y0 + 1, b.x0, (1 - b.tx) * b.ty * g);
        scatter(gp, s, b.y0 + 1, b.x0 + 1, b.tx * b.ty * g);
      }
      if (grad_grid) {
        const float* plane = input + (n * s.c + c) * in_plane;
        const float nw = pixel(plane, s, b.y0, b.x0), ne = pixel(plane, s, b.y0, b.x0 + 1);
        const float sw = pixel(plane, s, b.y0 + 1, b.x0), se = pixel(plane, s, b.y0 + 1, b.x0 + 1);
        gix += g * ((ne - nw) * (1 - b.ty) + (se - sw) * b.ty);
        giy += g * ((sw - nw) * (1 - b.tx) + (se - ne) * b.tx);
      }
    }
    if (grad_grid) {
      grad_grid[2 * i] = gix * p.gx_mult;
      grad_grid[2 * i + 1] = giy * p.gy_mult;
    }
  }
}

}  // namespace

void grid_sample2d_forward(const GridSampleShape& s, const float* input, const float* grid, float* out) {
  const std::int64_t n = s.n * s.out_h * s.out_w;
  if (n == 0) return;
  grid_forward_kernel<<<grid_blocks(n), kThreads>>>(s, input, grid, out);
  check_last_launch("grid_sample2d_forward");
}

void grid_sample2d_backward(const GridSampleShape& s, const float* dy, const float* input, const float* grid,
                            float* grad_input, float* grad_grid) {
  if (grad_input) fill(grad_input, 0.0f, static_cast<std::size_t>(s.n * s.c * s.in_h * s.in_w));
  const std::int64_t n = s.n * s.out_h * s.out_w;
  if (n == 0) return;
  grid_backward_kernel<<<grid_blocks(n), kThreads>>>(s, dy, input, grid, grad_input, grad_grid);
  check_last_launch("grid_sample2d_backward");
}

}  // namespace cuda
}  // namespace flexconv
