#include "cpu/deform_sample.h"

#include "core/cpu_features.h"

namespace flexconv {
namespace cpu {

void sample_row_panels_portable(const SampleRow& r, std::int64_t n, int nr, std::int64_t panel_stride, float* dst) {
  const float* p0 = r.plane;
  const float* p2 = r.plane + r.padded_w;
  for (std::int64_t start = 0; start < n; start += nr) {
    float* out = dst + (start / nr) * panel_stride;
    const std::int64_t len = n - start < nr ? n - start : nr;
    for (std::int64_t j = 0; j < len; ++j) {
      const std::int64_t q = start + j;
      const std::int32_t i = r.index[q];
      const float* a = r.w01 + 2 * q;
      const float* b = r.w23 + 2 * q;
      out[j] = (a[0] * p0[i] + b[0] * p2[i]) + (a[1] * p0[i + 1] + b[1] * p2[i + 1]);
    }
    for (std::int64_t j = len; j < nr; ++j) out[j] = 0.0f;
  }
}

void sample_row_panels(const SampleRow& r, std::int64_t n, int nr, std::int64_t panel_stride, float* dst) {
  switch (active_isa()) {
    case Isa::Avx512: return sample_row_panels_avx512(r, n, nr, panel_stride, dst);
    case Isa::Avx2: return sample_row_panels_avx2(r, n, nr, panel_stride, dst);
    case Isa::Portable: break;
  }
  sample_row_panels_portable(r, n, nr, panel_stride, dst);
}

}  // namespace cpu
}  // namespace flexconv
