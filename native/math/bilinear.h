// Bilinear sampling for deformable convolution, shared by the CPU and CUDA kernels.
//
// Boundary rule (torchvision's deform_conv2d and ONNX DeformConv, identical in ONNX Runtime):
// a point with y <= -1, y >= H, x <= -1 or x >= W samples 0; otherwise each of its four
// corners (floor(y) or floor(y)+1, floor(x) or floor(x)+1) that lies outside the image
// contributes 0 and the others are weighted bilinearly.
//
// Non-finite coordinates (from NaN or infinite offsets) are treated as outside: the sample
// and every derivative are 0. The test is written as !(y > -1 && y < H && ...) so a NaN
// fails it, and floor() is only converted to an integer after that test, so a NaN or a
// huge offset never becomes an index and never overflows an int.
//
// A sampling plan stores the four corner indices into one H x W plane and the four weights
// with the modulation mask folded in; corners outside the image get weight 0 and index 0
// (a valid address), so the hot loops need no branches. Note the consequence: such a corner
// multiplies input[0] by 0, so an infinite or NaN value at pixel 0 of the *input* could leak
// into samples next to the border. Offsets, the documented concern, never do.
#pragma once
#include <cmath>
#include <cstdint>

#include "math/hd.h"

namespace flexconv {
namespace math {

struct BilinearPlan {
  std::int32_t index[4];  // into the H x W plane: (y0,x0), (y0,x1), (y1,x0), (y1,x1)
  float weight[4];        // bilinear weight * mask; 0 for corners outside the image
};

// Corner geometry of one point, plus the derivatives of the (unmasked) corner weights with
// respect to y and x. valid == false means the point samples 0 and has zero derivatives.
struct BilinearCorners {
  bool valid;
  std::int32_t index[4];
  float weight[4];  // unmasked bilinear weights, 0 for corners outside the image
  float dwdy[4];    // d weight / d y, 0 for corners outside the image
  float dwdx[4];
};

FLEXCONV_HD bool bilinear_inside(float y, float x, std::int64_t H, std::int64_t W) {
  // Written positively so NaN compares false and lands outside.
  return y > -1.0f && y < static_cast<float>(H) && x > -1.0f && x < static_cast<float>(W);
}

FLEXCONV_HD BilinearCorners bilinear_corners(float y, float x, std::int64_t H, std::int64_t W) {
  BilinearCorners c;
  for (int q = 0; q < 4; ++q) {
    c.index[q] = 0;
    c.weight[q] = 0.0f;
    c.dwdy[q] = 0.0f;
    c.dwdx[q] = 0.0f;
  }
  c.valid = bilinear_inside(y, x, H, W);
  if (!c.valid) return c;
  // Here -1 < y < H, so floor fits an int32 whenever H does.
  const float fy = floorf(y), fx = floorf(x);
  const std::int32_t y0 = static_cast<std::int32_t>(fy), x0 = static_cast<std::int32_t>(fx);
  const std::int32_t y1 = y0 + 1, x1 = x0 + 1;
  const float ly = y - fy, lx = x - fx, hy = 1.0f - ly, hx = 1.0f - lx;
  const bool vy0 = y0 >= 0, vy1 = y1 < H, vx0 = x0 >= 0, vx1 = x1 < W;
  const bool ok[4] = {vy0 && vx0, vy0 && vx1, vy1 && vx0, vy1 && vx1};
  const std::int32_t iy[4] = {y0, y0, y1, y1}, ix[4] = {x0, x1, x0, x1};
  const float w[4] = {hy * hx, hy * lx, ly * hx, ly * lx};
  const float dy[4] = {-hx, -lx, hx, lx};
  const float dx[4] = {-hy, hy, -ly, ly};
  for (int q = 0; q < 4; ++q) {
    if (!ok[q]) continue;
    c.index[q] = iy[q] * static_cast<std::int32_t>(W) + ix[q];
    c.weight[q] = w[q];
    c.dwdy[q] = dy[q];
    c.dwdx[q] = dx[q];
  }
  return c;
}

// The plan used by forward sampling and by the input-gradient scatter.
FLEXCONV_HD BilinearPlan bilinear_plan(float y, float x, float mask, std::int64_t H, std::int64_t W) {
  const BilinearCorners c = bilinear_corners(y, x, H, W);
  BilinearPlan p;
  for (int q = 0; q < 4; ++q) {
    p.index[q] = c.index[q];
    p.weight[q] = c.weight[q] * mask;
  }
  return p;
}

// sum_q weight[q] * plane[index[q]]
FLEXCONV_HD float bilinear_apply(const BilinearPlan& p, const float* plane) {
  return p.weight[0] * plane[p.index[0]] + p.weight[1] * plane[p.index[1]] +
         p.weight[2] * plane[p.index[2]] + p.weight[3] * plane[p.index[3]];
}

// Unmasked sample value and its derivatives w.r.t. y and x at one point of one plane.
struct BilinearGrad {
  float value, dvdy, dvdx;
};

FLEXCONV_HD BilinearGrad bilinear_value_and_grad(const BilinearCorners& c, const float* plane) {
  BilinearGrad g = {0.0f, 0.0f, 0.0f};
  if (!c.valid) return g;
  for (int q = 0; q < 4; ++q) {
    const float v = plane[c.index[q]];
    g.value += c.weight[q] * v;
    g.dvdy += c.dwdy[q] * v;
    g.dvdx += c.dwdx[q] * v;
  }
  return g;
}

// A plan against a copy of the plane padded by one zero pixel on every side ((H+2) x (W+2)):
// a point inside (-1, H) x (-1, W) has all four corners inside the padded plane, so corners
// outside the image read the zero padding, which is exactly the boundary rule, without a
// branch or a validity flag. `index` is the padded index of the (y0, x0) corner; the others
// are index+1, index+(W+2), index+(W+2)+1. Points outside (or non-finite) get index 0 and
// zero weights.
struct BilinearPaddedPlan {
  std::int32_t index;
  float weight[4];  // (y0,x0), (y0,x1), (y1,x0), (y1,x1), mask folded in
};

// The padded (y0, x0) index and the fractional parts of one point; an outside or non-finite
// point gives index 0 and valid == false (its fractions are then meaningless: callers zero
// every weight).
struct BilinearPaddedPoint {
  bool valid;
  std::int32_t index;
  float ly, lx;
};

FLEXCONV_HD BilinearPaddedPoint bilinear_padded_point(float y, float x, std::int64_t H, std::int64_t W) {
  BilinearPaddedPoint p = {false, 0, 0.0f, 0.0f};
  if (!bilinear_inside(y, x, H, W)) return p;
  const float fy = floorf(y), fx = floorf(x);
  p.valid = true;
  p.index = (static_cast<std::int32_t>(fy) + 1) * static_cast<std::int32_t>(W + 2) + (static_cast<std::int32_t>(fx) + 1);
  p.ly = y - fy;
  p.lx = x - fx;
  return p;
}

FLEXCONV_HD BilinearPaddedPlan bilinear_padded_plan(float y, float x, float mask, std::int64_t H, std::int64_t W) {
  const BilinearPaddedPoint q = bilinear_padded_point(y, x, H, W);
  BilinearPaddedPlan p;
  p.index = q.index;
  p.weight[0] = p.weight[1] = p.weight[2] = p.weight[3] = 0.0f;
  if (!q.valid) return p;
  const float hy = 1.0f - q.ly, hx = 1.0f - q.lx;
  p.weight[0] = hy * hx * mask;
  p.weight[1] = hy * q.lx * mask;
  p.weight[2] = q.ly * hx * mask;
  p.weight[3] = q.ly * q.lx * mask;
  return p;
}

// The sampling point of kernel tap (i, j) for output pixel (oy, ox), before the offset.
FLEXCONV_HD float deform_base_coord(std::int64_t out, std::int64_t stride, std::int64_t pad,
                                    std::int64_t tap, std::int64_t dilation) {
  return static_cast<float>(out * stride - pad + tap * dilation);
}

}  // namespace math
}  // namespace flexconv
