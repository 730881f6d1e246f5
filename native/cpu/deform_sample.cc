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
  if (active_isa() != Isa::Portable) return sample_row_panels_avx2(r, n, nr, panel_stride, dst);
  sample_row_panels_portable(r, n, nr, panel_stride, dst);
}

void sample_block(const SampleRow* rows, std::int64_t kc, std::int64_t n, int nr, float* dst) {
  if (active_isa() != Isa::Portable) return sample_block_avx2(rows, kc, n, nr, dst);
  for (std::int64_t p0 = 0; p0 < n; p0 += nr) {
    const std::int64_t len = n - p0 < nr ? n - p0 : nr;
    float* panel = dst + (p0 / nr) * kc * nr;
    for (std::int64_t kk = 0; kk < kc; ++kk) {
      SampleRow r = rows[kk];
      r.index += p0;
      r.w01 += 2 * p0;
      r.w23 += 2 * p0;
      sample_row_panels(r, len, nr, 0, panel + kk * nr);
    }
  }
}

}  // namespace cpu
}  // namespace flexconv
