#include "cpu/deform_offset_grad.h"

#include "core/cpu_features.h"

namespace flexconv {
namespace cpu {
namespace {
#include "cpu/deform_offset_grad_body.h"
}  // namespace

void accumulate_offset_grad_portable(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                                     const float* grad_col, float* gy, float* gx, float* gm) {
  accumulate_offset_grad_body(pts, plane, padded_w, grad_col, gy, gx, gm);
}

void accumulate_offset_grad(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                            const float* grad_col, float* gy, float* gx, float* gm) {
  switch (active_isa()) {
    case Isa::Avx512: return accumulate_offset_grad_avx512(pts, plane, padded_w, grad_col, gy, gx, gm);
    case Isa::Avx2: return accumulate_offset_grad_avx2(pts, plane, padded_w, grad_col, gy, gx, gm);
    case Isa::Portable: break;
  }
  accumulate_offset_grad_portable(pts, plane, padded_w, grad_col, gy, gx, gm);
}

}  // namespace cpu
}  // namespace flexconv
