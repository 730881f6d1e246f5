// Shapes of one deformable convolution call, shared by the CPU and CUDA kernels and the
// binding (which fills it after checking every tensor against it).
//
// Layout (torchvision / ONNX DeformConv): input (N, C, H, W); offset (N, 2*G*kh*kw, Ho, Wo)
// with channel g*2*kh*kw + 2*(i*kw + j) = dy and the next dx for tap (i, j) of offset group
// g; mask (N, G*kh*kw, Ho, Wo); weight (O, C/groups, kh, kw); bias (O); output (N, O, Ho, Wo).
#pragma once
#include <cstdint>

namespace flexconv {
namespace math {

struct DeformConv2dGeometry {
  std::int64_t batch, in_channels, in_h, in_w;
  std::int64_t out_channels, out_h, out_w;
  std::int64_t kernel_h, kernel_w;
  std::int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
  std::int64_t groups, offset_groups;

  std::int64_t taps() const { return kernel_h * kernel_w; }
  std::int64_t out_pixels() const { return out_h * out_w; }
  std::int64_t in_pixels() const { return in_h * in_w; }
  std::int64_t group_in_channels() const { return in_channels / groups; }
  std::int64_t group_out_channels() const { return out_channels / groups; }
  std::int64_t offset_group_channels() const { return in_channels / offset_groups; }
};

}  // namespace math
}  // namespace flexconv
