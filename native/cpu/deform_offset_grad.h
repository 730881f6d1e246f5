// The innermost loop of the offset / mask gradient: for a run of sampling points of one
// (offset group, tap) and one input channel (a zero-padded plane, see math/bilinear.h),
// accumulate grad_col * d(sample)/dy, * d(sample)/dx and * sample (unmasked).
//
// With the corner pairs top = (v00, v01) and bottom = (v10, v11) (adjacent floats), each of
// the three quantities is a dot product of the 4 corners with per-point coefficient pairs:
//   sample = (hy*hx, hy*lx).top + (ly*hx, ly*lx).bottom
//   d/dy   = (-hx, -lx).top     + (hx, lx).bottom
//   d/dx   = (-hy, hy).top      + (-ly, ly).bottom
// (hy = 1 - ly, hx = 1 - lx; all 0 for a point outside the image). Corners outside the image
// read the zero padding: exactly the torchvision / ONNX rule for value and derivatives. The
// coefficient pairs are computed once per point and reused for every channel of its group.
#pragma once
#include <cstdint>

namespace flexconv {
namespace cpu {

struct OffsetGradPoints {
  const std::int32_t* index;  // padded index of the top-left corner
  // Interleaved pairs, 2 floats per point: coefficients of the top and bottom corner pairs.
  const float* value_top;
  const float* value_bottom;
  const float* dy_top;
  const float* dy_bottom;
  const float* dx_top;
  const float* dx_bottom;
  std::int64_t count;
};

void accumulate_offset_grad(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                            const float* grad_col, float* gy, float* gx, float* gm);

void accumulate_offset_grad_portable(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                                     const float* grad_col, float* gy, float* gx, float* gm);
void accumulate_offset_grad_avx2(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                                 const float* grad_col, float* gy, float* gx, float* gm);

}  // namespace cpu
}  // namespace flexconv
