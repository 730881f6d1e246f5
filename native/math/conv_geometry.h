// Convolution geometry shared by every conv-like kernel (CPU and CUDA).
#pragma once
#include <cstdint>

#include "math/hd.h"

namespace flexconv {
namespace math {

// PyTorch's output size: floor((in + 2*pad - dil*(k-1) - 1) / stride) + 1.
FLEXCONV_HD std::int64_t conv_out_size(std::int64_t in, std::int64_t kernel, std::int64_t stride, std::int64_t pad,
                                       std::int64_t dilation) {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

struct Conv2dGeometry {
  std::int64_t batch, in_channels, in_h, in_w;
  std::int64_t out_channels, out_h, out_w;
  std::int64_t kernel_h, kernel_w;
  std::int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  std::int64_t groups;
};

// The output positions t in [0, n) whose input coordinate x0 + t*stride lies in [0, size):
// [*lo, *hi). (FLEXCONV_HD inlines it on the host, so per-instruction-set files may call it.)
FLEXCONV_HD void conv_valid_range(std::int64_t x0, std::int64_t stride, std::int64_t size, std::int64_t n,
                                  std::int64_t* lo, std::int64_t* hi) {
  std::int64_t a = x0 >= 0 ? 0 : (-x0 + stride - 1) / stride;
  std::int64_t b = x0 >= size ? 0 : (size - 1 - x0) / stride + 1;
  if (a > n) a = n;
  if (b > n) b = n;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

}  // namespace math
}  // namespace flexconv
