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

}  // namespace math
}  // namespace flexconv
