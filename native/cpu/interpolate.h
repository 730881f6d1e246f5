// interpolate (upsample/downsample) of NCHW planes, modes 'nearest' and 'bilinear'. The CPU
// (cpu/interpolate.cc) and CUDA (cuda/interpolate.cu) kernels share these signatures.
#pragma once
#include <cstdint>

namespace flexconv {
namespace cpu {

enum class InterpMode : int { Nearest = 0, Bilinear = 1 };

struct InterpShape {
  std::int64_t planes, in_h, in_w, out_h, out_w;
  // The user's scale factors when the output size came from them, else <= 0 (see math/interpolate.h).
  double scale_h, scale_w;
  bool align_corners;
};

void interpolate2d_forward(const InterpShape& s, InterpMode mode, const float* x, float* y);
void interpolate2d_backward(const InterpShape& s, InterpMode mode, const float* dy, float* grad_x);

}  // namespace cpu
}  // namespace flexconv
