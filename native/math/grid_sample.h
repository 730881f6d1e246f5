// grid_sample coordinate math shared by the CPU and CUDA kernels, following PyTorch's
// GridSampler.h: a normalised grid coordinate in [-1, 1] becomes a pixel coordinate
// (unnormalise), then the padding mode maps it back into the image (border clips,
// reflection mirrors then clips), and every step also returns its derivative so the grid
// gradient is the chain of those multipliers.
#pragma once
#include <cmath>
#include <cstdint>

#include "math/hd.h"

namespace flexconv {
namespace math {

enum class GridPadding : int { Zeros = 0, Border = 1, Reflection = 2 };
enum class GridMode : int { Bilinear = 0, Nearest = 1 };

// align_corners: -1 and 1 are the centres of the corner pixels; otherwise their outer edges.
FLEXCONV_HD float grid_unnormalize(float coord, std::int64_t size, bool align_corners, float* grad) {
  if (align_corners) {
    *grad = static_cast<float>(size - 1) / 2.0f;
    return (coord + 1.0f) / 2.0f * static_cast<float>(size - 1);
  }
  *grad = static_cast<float>(size) / 2.0f;
  return ((coord + 1.0f) * static_cast<float>(size) - 1.0f) / 2.0f;
}

// Clamp to [0, size-1]; the derivative is 0 where clamped.
FLEXCONV_HD float grid_clip(float x, std::int64_t size, float* grad) {
  if (x <= 0.0f) {
    *grad = 0.0f;
    return 0.0f;
  }
  const float hi = static_cast<float>(size - 1);
  if (x >= hi) {
    *grad = 0.0f;
    return hi;
  }
  *grad = 1.0f;
  return x;
}

// Reflect x into [twice_low/2, twice_high/2] by mirroring at both ends as often as needed
// (bounds are doubled so half-integer bounds stay integers). Derivative is +1 or -1.
FLEXCONV_HD float grid_reflect(float x, std::int64_t twice_low, std::int64_t twice_high, float* grad) {
  if (twice_low == twice_high) {
    *grad = 0.0f;
    return 0.0f;
  }
  const float lo = static_cast<float>(twice_low) / 2.0f;
  const float span = static_cast<float>(twice_high - twice_low) / 2.0f;
  float sign = 1.0f;
  x -= lo;
  if (x < 0.0f) {
    sign = -1.0f;
    x = -x;
  }
  const float extra = fmodf(x, span);
  // Parity of the number of flips, kept in float so huge or non-finite x never overflows an
  // int (a non-finite x stays NaN and grid_safe() sends it outside the image).
  const float flips = floorf(x / span);
  if (fmodf(flips, 2.0f) == 0.0f) {
    *grad = sign;
    return extra + lo;
  }
  *grad = -sign;
  return span - extra + lo;
}

// Non-finite or huge coordinates would overflow the integer conversion of floor(): map them
// far outside the image (PyTorch's safe_downgrade_to_int_range), where they sample zeros.
FLEXCONV_HD float grid_safe(float x) { return (x > -2147483000.0f && x < 2147483000.0f) ? x : -100.0f; }

// The pixel coordinate sampled for a grid value, and d(pixel)/d(grid).
FLEXCONV_HD float grid_source_index(float coord, std::int64_t size, GridPadding padding, bool align_corners,
                                    float* grad) {
  float g_unnorm, g_pad = 1.0f;
  float x = grid_unnormalize(coord, size, align_corners, &g_unnorm);
  if (padding == GridPadding::Border) {
    x = grid_clip(x, size, &g_pad);
  } else if (padding == GridPadding::Reflection) {
    float g_ref, g_clip;
    x = align_corners ? grid_reflect(x, 0, 2 * (size - 1), &g_ref) : grid_reflect(x, -1, 2 * size - 1, &g_ref);
    x = grid_clip(x, size, &g_clip);
    g_pad = g_ref * g_clip;
  }
  *grad = g_unnorm * g_pad;
  return grid_safe(x);
}

FLEXCONV_HD bool grid_in_bounds(std::int64_t y, std::int64_t x, std::int64_t h, std::int64_t w) {
  return y >= 0 && y < h && x >= 0 && x < w;
}

// Bilinear taps around (iy, ix): corner indices and weights; out-of-image corners get
// valid == false (they contribute zero in every padding mode, since border and reflection
// already moved the point inside).
struct GridBilinear {
  std::int64_t x0, y0;  // north-west corner; the others are +1
  float tx, ty;         // fractional offsets: weight of the east / south neighbours
};

FLEXCONV_HD GridBilinear grid_bilinear(float iy, float ix) {
  const float fx = floorf(ix), fy = floorf(iy);
  return GridBilinear{static_cast<std::int64_t>(fx), static_cast<std::int64_t>(fy), ix - fx, iy - fy};
}

// PyTorch rounds half to even for mode 'nearest'.
FLEXCONV_HD std::int64_t grid_nearest(float i) { return static_cast<std::int64_t>(nearbyintf(i)); }

}  // namespace math
}  // namespace flexconv
