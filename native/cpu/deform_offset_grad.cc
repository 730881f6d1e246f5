#include "cpu/deform_offset_grad.h"

#include "core/cpu_features.h"

namespace flexconv {
namespace cpu {

void accumulate_offset_grad_portable(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                                     const float* grad_col, float* gy, float* gx, float* gm) {
  for (std::int64_t j = 0; j < pts.count; ++j) {
    const float* t = plane + pts.index[j];
    const float* b = t + padded_w;
    const std::int64_t q = 2 * j;
    const float g = grad_col[j];
    gm[j] += g * ((pts.value_top[q] * t[0] + pts.value_top[q + 1] * t[1]) +
                  (pts.value_bottom[q] * b[0] + pts.value_bottom[q + 1] * b[1]));
    gy[j] += g * ((pts.dy_top[q] * t[0] + pts.dy_top[q + 1] * t[1]) + (pts.dy_bottom[q] * b[0] + pts.dy_bottom[q + 1] * b[1]));
    gx[j] += g * ((pts.dx_top[q] * t[0] + pts.dx_top[q + 1] * t[1]) + (pts.dx_bottom[q] * b[0] + pts.dx_bottom[q + 1] * b[1]));
  }
}

void accumulate_offset_grad(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                            const float* grad_col, float* gy, float* gx, float* gm) {
  if (active_isa() != Isa::Portable) return accumulate_offset_grad_avx2(pts, plane, padded_w, grad_col, gy, gx, gm);
  accumulate_offset_grad_portable(pts, plane, padded_w, grad_col, gy, gx, gm);
}

}  // namespace cpu
}  // namespace flexconv
