// Bilinear sampling for deformable convolution, shared by the CPU and CUDA kernels.
//
// torchvision's deform_conv2d rules (torchvision 0.14 csrc/ops/cpu/deform_conv2d_kernel.cpp,
// the CUDA kernel alike; ONNX DeformConv and ONNX Runtime agree on the forward):
// - Value: a point with y <= -1, y >= H, x <= -1 or x >= W samples 0 (its image corners are
//   not read); otherwise each of its four corners (floor(y) or floor(y)+1, floor(x) or
//   floor(x)+1) that lies outside the image contributes 0 and the others are weighted
//   bilinearly. Every corner inside the image is read, even with weight 0, so a NaN or Inf
//   there reaches the sample exactly as in torchvision; the mask multiplies the sample (a NaN
//   mask makes even an outside sample NaN).
// - Coordinate derivatives (the offset gradient) use the cell [floor(p), floor(p) + 1] with no
//   early exit: they are nonzero on the closed lines y = -1 and x = -1 too, where a point
//   samples 0 but its cell has corners in the image (a one-sided derivative). Every point
//   with all four corners outside has zero derivatives. So the derivative region is
//   [-1, H) x [-1, W), the value region its interior (-1, H) x (-1, W).
// - The input gradient is the forward's: the corners of points in the value region.
//
// Non-finite coordinates (from NaN or infinite offsets) are treated as outside both regions:
// the sample and every derivative are 0. The tests are written as !(y > -1 && ...) so a NaN
// fails them, and floor() is only converted to an integer after that test, so a NaN or a
// huge offset never becomes an index and never overflows an int.
//
// Two sampling-plan forms: BilinearPlan addresses one H x W plane (CUDA) and marks corners
// outside the image with index -1 (never read); BilinearPaddedPlan addresses a zero-bordered
// copy (CPU), where outside corners read the zero border without a branch.
#pragma once
#include <cmath>
#include <cstdint>

#include "math/hd.h"

namespace flexconv {
namespace math {

struct BilinearPlan {
  std::int32_t index[4];  // into the H x W plane: (y0,x0), (y0,x1), (y1,x0), (y1,x1); -1 outside
  float weight[4];        // bilinear weight (0 for corners outside the image)
  float mask;             // multiplies the sample
};

// Corner geometry of one point, plus the derivatives of the (unmasked) corner weights with
// respect to y and x. `valid`: the point is in the value region; `grad_valid`: in the
// derivative region (see the top of the file). Corners outside the image have index -1 and
// zero weight and derivatives.
struct BilinearCorners {
  bool valid, grad_valid;
  std::int32_t index[4];
  float weight[4];  // unmasked bilinear weights; all 0 unless valid
  float dwdy[4];    // d weight / d y
  float dwdx[4];
};

FLEXCONV_HD bool bilinear_inside(float y, float x, std::int64_t H, std::int64_t W) {
  // Written positively so NaN compares false and lands outside.
  return y > -1.0f && y < static_cast<float>(H) && x > -1.0f && x < static_cast<float>(W);
}

// The derivative region [-1, H) x [-1, W) (NaN lands outside).
FLEXCONV_HD bool bilinear_grad_inside(float y, float x, std::int64_t H, std::int64_t W) {
  return y >= -1.0f && y < static_cast<float>(H) && x >= -1.0f && x < static_cast<float>(W);
}

FLEXCONV_HD BilinearCorners bilinear_corners(float y, float x, std::int64_t H, std::int64_t W) {
  BilinearCorners c;
  for (int q = 0; q < 4; ++q) {
    c.index[q] = -1;
    c.weight[q] = 0.0f;
    c.dwdy[q] = 0.0f;
    c.dwdx[q] = 0.0f;
  }
  c.valid = bilinear_inside(y, x, H, W);
  c.grad_valid = bilinear_grad_inside(y, x, H, W);
  if (!c.grad_valid) return c;
  // Here -1 <= y < H, so floor fits an int32 whenever H does.
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
    c.weight[q] = c.valid ? w[q] : 0.0f;
    c.dwdy[q] = dy[q];
    c.dwdx[q] = dx[q];
  }
  return c;
}

// The plan used by forward sampling and by the input-gradient scatter: the value region's
// corners (outside it, every index is -1).
FLEXCONV_HD BilinearPlan bilinear_plan(float y, float x, float mask, std::int64_t H, std::int64_t W) {
  const BilinearCorners c = bilinear_corners(y, x, H, W);
  BilinearPlan p;
  for (int q = 0; q < 4; ++q) {
    p.index[q] = c.valid ? c.index[q] : -1;
    p.weight[q] = c.weight[q];
  }
  p.mask = mask;
  return p;
}

// mask * sum_q weight[q] * plane[index[q]] over the corners inside the image.
FLEXCONV_HD float bilinear_apply(const BilinearPlan& p, const float* plane) {
  float s = 0.0f;
  for (int q = 0; q < 4; ++q) {
    if (p.index[q] >= 0) s += p.weight[q] * plane[p.index[q]];
  }
  return p.mask * s;
}

// Unmasked sample value and its derivatives w.r.t. y and x at one point of one plane.
struct BilinearGrad {
  float value, dvdy, dvdx;
};

FLEXCONV_HD BilinearGrad bilinear_value_and_grad(const BilinearCorners& c, const float* plane) {
  BilinearGrad g = {0.0f, 0.0f, 0.0f};
  for (int q = 0; q < 4; ++q) {
    if (c.index[q] < 0) continue;
    const float v = plane[c.index[q]];
    if (c.valid) g.value += c.weight[q] * v;
    g.dvdy += c.dwdy[q] * v;
    g.dvdx += c.dwdx[q] * v;
  }
  return g;
}

// The zero-bordered copy the CPU kernels sample: an H x W plane with one zero pixel on the
// left, right and top, and TWO zero rows at the bottom: (H + 3) x (W + 2) pixels. A point of
// the derivative region has all four corners inside it, so corners outside the image read
// zeros without a branch or a validity flag. Points outside are sent to the 2 x 2 block of
// zeros at the start of the bottom rows, which no corner of the image touches, so they read
// exact zeros whatever the image holds (a NaN or Inf pixel never leaks into them).
FLEXCONV_HD std::int64_t padded_plane_pixels(std::int64_t H, std::int64_t W) { return (H + 3) * (W + 2); }
FLEXCONV_HD std::int32_t padded_outside_index(std::int64_t H, std::int64_t W) {
  return static_cast<std::int32_t>((H + 1) * (W + 2));
}

// A plan against the zero-bordered copy: `index` is the padded index of the (y0, x0) corner;
// the others are index+1, index+(W+2), index+(W+2)+1.
struct BilinearPaddedPlan {
  std::int32_t index;
  float weight[4];  // (y0,x0), (y0,x1), (y1,x0), (y1,x1), mask folded in
};

// The padded (y0, x0) index and the fractional parts of one point of the derivative region
// (grad_valid; valid when it is also in the value region). Other points get the outside index
// and zero fractions.
struct BilinearPaddedPoint {
  bool valid, grad_valid;
  std::int32_t index;
  float ly, lx;
};

FLEXCONV_HD BilinearPaddedPoint bilinear_padded_point(float y, float x, std::int64_t H, std::int64_t W) {
  BilinearPaddedPoint p = {false, false, padded_outside_index(H, W), 0.0f, 0.0f};
  if (!bilinear_grad_inside(y, x, H, W)) return p;
  const float fy = floorf(y), fx = floorf(x);
  p.valid = bilinear_inside(y, x, H, W);
  p.grad_valid = true;
  p.index =
      (static_cast<std::int32_t>(fy) + 1) * static_cast<std::int32_t>(W + 2) + (static_cast<std::int32_t>(fx) + 1);
  p.ly = y - fy;
  p.lx = x - fx;
  return p;
}

// The forward / input-gradient plan: points outside the value region read the zero block with
// weights 0 * mask (so a NaN mask still makes the sample NaN, as torchvision's mask * 0).
FLEXCONV_HD BilinearPaddedPlan bilinear_padded_plan(float y, float x, float mask, std::int64_t H, std::int64_t W) {
  BilinearPaddedPlan p;
  p.index = padded_outside_index(H, W);
  p.weight[0] = p.weight[1] = p.weight[2] = p.weight[3] = 0.0f * mask;
  if (!bilinear_inside(y, x, H, W)) return p;
  const BilinearPaddedPoint q = bilinear_padded_point(y, x, H, W);
  const float hy = 1.0f - q.ly, hx = 1.0f - q.lx;
  p.index = q.index;
  p.weight[0] = hy * hx * mask;
  p.weight[1] = hy * q.lx * mask;
  p.weight[2] = q.ly * hx * mask;
  p.weight[3] = q.ly * q.lx * mask;
  return p;
}

// The sampling point of kernel tap (i, j) for output pixel (oy, ox), before the offset.
FLEXCONV_HD float deform_base_coord(std::int64_t out, std::int64_t stride, std::int64_t pad, std::int64_t tap,
                                    std::int64_t dilation) {
  return static_cast<float>(out * stride - pad + tap * dilation);
}

}  // namespace math
}  // namespace flexconv
