// Source coordinates of interpolate (upsample) for the CPU and CUDA kernels, following
// PyTorch's UpSample.h exactly, in float like PyTorch's float kernels so the chosen source
// pixels agree at the boundaries.
//
// `scale` is the user's scale factor for this axis when the output size came from it
// (PyTorch passes it to the kernel), or <= 0 when the size was given explicitly.
#pragma once
#include <cmath>
#include <cstdint>

#include "math/hd.h"

namespace flexconv {
namespace math {

// in/out, or 1/scale when a scale factor was given (PyTorch's compute_scales_value).
FLEXCONV_HD float interp_scale(std::int64_t in, std::int64_t out, double scale) {
  return scale > 0 ? static_cast<float>(1.0 / scale) : static_cast<float>(in) / static_cast<float>(out);
}

// mode 'nearest': floor(dst * in/out), clamped to the last pixel.
FLEXCONV_HD std::int64_t nearest_source(std::int64_t dst, std::int64_t in, std::int64_t out, double scale) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float s = interp_scale(in, out, scale);
  const std::int64_t src = static_cast<std::int64_t>(floorf(static_cast<float>(dst) * s));
  return src < in - 1 ? src : in - 1;
}

// mode 'bilinear': the scale between output and input coordinates
// (align_corners: (in-1)/(out-1), ignoring any scale factor; else in/out or 1/scale).
FLEXCONV_HD float linear_scale(std::int64_t in, std::int64_t out, bool align_corners, double scale) {
  if (align_corners) return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  return interp_scale(in, out, scale);
}

// The two source pixels and their weights for output index dst.
struct LinearTap {
  std::int64_t i0, i1;
  float w0, w1;
};

FLEXCONV_HD LinearTap linear_source(std::int64_t dst, std::int64_t in, float scale, bool align_corners) {
  float src = align_corners ? scale * static_cast<float>(dst) : scale * (static_cast<float>(dst) + 0.5f) - 0.5f;
  if (src < 0.0f) src = 0.0f;
  std::int64_t i0 = static_cast<std::int64_t>(src);
  if (i0 > in - 1) i0 = in - 1;
  const std::int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
  float l1 = src - static_cast<float>(i0);
  l1 = l1 < 0.0f ? 0.0f : (l1 > 1.0f ? 1.0f : l1);
  return LinearTap{i0, i1, 1.0f - l1, l1};
}

}  // namespace math
}  // namespace flexconv
