// The innermost loop of the offset / mask gradient: for a run of sampling points of one
// (offset group, tap) and one input channel (a zero-padded plane, see math/bilinear.h),
// accumulate grad_col * d(sample)/dy, * d(sample)/dx and * sample. Points are described by
// their padded top-left index and the bilinear coefficients hy = 1-ly, ly, hx = 1-lx, lx
// (all four 0 for a point outside the image, which makes every term 0). Corners outside the
// image read the zero padding, exactly the torchvision / ONNX rule for value and derivative.
// Compiled three times (portable, AVX2, AVX-512 auto-vectorised with gathers), picked at
// run time; each point's arithmetic is the same scalar expression on every path.
#pragma once
#include <cstdint>

namespace flexconv {
namespace cpu {

struct OffsetGradPoints {
  const std::int32_t* index;
  const float* hy;
  const float* ly;
  const float* hx;
  const float* lx;
  std::int64_t count;
};

void accumulate_offset_grad(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                            const float* grad_col, float* gy, float* gx, float* gm);

void accumulate_offset_grad_portable(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                                     const float* grad_col, float* gy, float* gx, float* gm);
void accumulate_offset_grad_avx2(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                                 const float* grad_col, float* gy, float* gx, float* gm);
void accumulate_offset_grad_avx512(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                                   const float* grad_col, float* gy, float* gx, float* gm);

}  // namespace cpu
}  // namespace flexconv
