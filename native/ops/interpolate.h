// interpolate (upsample / downsample) of NCHW planes, modes 'nearest' and 'bilinear': the
// contract both backends implement (cpu/interpolate.cc, cuda/interpolate.cu).
#pragma once
#include <cstdint>

namespace flexconv {

enum class InterpMode : int { Nearest = 0, Bilinear = 1 };

struct InterpShape {
  std::int64_t planes, in_h, in_w, out_h, out_w;
  // The user's scale factors when the output size came from them, else <= 0 (see math/interpolate.h).
  double scale_h, scale_w;
  bool align_corners;
};

// interpolate2d_forward: y = interpolate(x), or base + interpolate(x) when base (y's shape) is
// not null: the upsample-and-add of feature pyramids and octave convolutions in one pass.
#define FLEXCONV_INTERPOLATE_ENTRY_POINTS                                                     \
  void interpolate2d_forward(const InterpShape& s, InterpMode mode, const float* x, float* y, \
                             const float* base = nullptr);                                    \
  void interpolate2d_backward(const InterpShape& s, InterpMode mode, const float* dy, float* grad_x);

namespace cpu {
FLEXCONV_INTERPOLATE_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_INTERPOLATE_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_INTERPOLATE_ENTRY_POINTS

}  // namespace flexconv
