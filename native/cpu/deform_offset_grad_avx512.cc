// accumulate_offset_grad compiled for AVX512 (the compiler vectorises the loop with gathers).
#include <cstdint>

#include "cpu/deform_offset_grad.h"

namespace flexconv {
namespace cpu {
namespace {
#include "cpu/deform_offset_grad_body.h"
}  // namespace

void accumulate_offset_grad_avx512(const OffsetGradPoints& pts, const float* plane, std::int64_t padded_w,
                                 const float* grad_col, float* gy, float* gx, float* gm) {
  accumulate_offset_grad_body(pts, plane, padded_w, grad_col, gy, gx, gm);
}

}  // namespace cpu
}  // namespace flexconv
