// Portable versions and run-time dispatch of cpu/deform_channels_last.h.
#include "cpu/deform_channels_last.h"

#include "core/cpu_features.h"
#include "math/bilinear.h"

namespace flexconv {
namespace cpu {
namespace {

// The AVX2 kernels are named only inside `if constexpr`: builds without them never refer to them.
bool use_avx2() { return active_isa() != Isa::Portable; }

inline float sample_at(const float* p, std::int64_t C, std::int64_t down, const PlanRow& plan, std::int64_t q) {
  const float* a = plan.w01 + 2 * q;
  const float* b = plan.w23 + 2 * q;
  return (a[0] * p[0] + b[0] * p[down]) + (a[1] * p[C] + b[1] * p[down + C]);
}

}  // namespace

void plan_run_portable(const PlanRun& r, std::int32_t* index, float* w01, float* w23) {
  for (std::int64_t q = 0; q < r.n; ++q) {
    const float y = r.y0 + r.dy[q];
    const float x = static_cast<float>(r.x0 + q * r.x_step) + r.dx[q];
    const math::BilinearPaddedPlan pl = math::bilinear_padded_plan(y, x, r.mask ? r.mask[q] : 1.0f, r.in_h, r.in_w);
    index[q] = pl.index + r.index_offset;
    w01[2 * q] = pl.weight[0];
    w01[2 * q + 1] = pl.weight[1];
    w23[2 * q] = pl.weight[2];
    w23[2 * q + 1] = pl.weight[3];
  }
}

void plan_run(const PlanRun& r, std::int32_t* index, float* w01, float* w23) {
  if constexpr (kHasX86Kernels) {
    if (use_avx2()) return plan_run_avx2(r, index, w01, w23);
  }
  plan_run_portable(r, index, w01, w23);
}

void point_run_portable(const PlanRun& r, const PointRun& out) {
  for (std::int64_t q = 0; q < r.n; ++q) {
    const float y = r.y0 + r.dy[q];
    const float x = static_cast<float>(r.x0 + q * r.x_step) + r.dx[q];
    const math::BilinearPaddedPoint pt = math::bilinear_padded_point(y, x, r.in_h, r.in_w);
    out.index[q] = pt.index + r.index_offset;
    out.ly[q] = pt.ly;
    out.lx[q] = pt.lx;
    out.valid[q] = pt.valid ? 1.0f : 0.0f;
    out.grad_valid[q] = pt.grad_valid ? 1.0f : 0.0f;
  }
}

void point_run(const PlanRun& r, const PointRun& out) {
  if constexpr (kHasX86Kernels) {
    if (use_avx2()) return point_run_avx2(r, out);
  }
  point_run_portable(r, out);
}

void sample_tap_panels(const PaddedImage& img, std::int64_t c0, std::int64_t rows, const PlanRow& plan,
                       std::int64_t npix, int nr, std::int64_t panel_stride, float* dst) {
  if constexpr (kHasX86Kernels) {
    if (use_avx2() && nr % 8 == 0) return sample_tap_panels_avx2(img, c0, rows, plan, npix, nr, panel_stride, dst);
  }
  const std::int64_t C = img.channels, down = img.padded_w * C;
  const std::int64_t width = (npix + nr - 1) / nr * nr;
  for (std::int64_t j = 0; j < width; ++j) {
    float* out = dst + (j / nr) * panel_stride + j % nr;
    if (j >= npix) {
      for (std::int64_t r = 0; r < rows; ++r) out[r * nr] = 0.0f;
      continue;
    }
    const float* p = img.data + static_cast<std::int64_t>(plan.index[j]) * C + c0;
    for (std::int64_t r = 0; r < rows; ++r) out[r * nr] = sample_at(p + r, C, down, plan, j);
  }
}

void sample_channel_rows(const PaddedImage& img, std::int64_t c0, std::int64_t count, const PlanRow& plan,
                         std::int64_t npix, float* out, std::int64_t out_stride) {
  if constexpr (kHasX86Kernels) {
    if (use_avx2()) return sample_channel_rows_avx2(img, c0, count, plan, npix, out, out_stride);
  }
  const std::int64_t C = img.channels, down = img.padded_w * C;
  for (std::int64_t q = 0; q < npix; ++q) {
    const float* p = img.data + static_cast<std::int64_t>(plan.index[q]) * C + c0;
    float* o = out + q * out_stride;
    for (std::int64_t c = 0; c < count; ++c) o[c] = sample_at(p + c, C, down, plan, q);
  }
}

void scatter_channel_rows(float* grad, std::int64_t channels, std::int64_t padded_w, std::int64_t c0,
                          std::int64_t count, const ScatterTaps& s, std::int64_t npix) {
  if constexpr (kHasX86Kernels) {
    if (use_avx2()) return scatter_channel_rows_avx2(grad, channels, padded_w, c0, count, s, npix);
  }
  const std::int64_t C = channels, down = padded_w * C;
  const std::int64_t at[4] = {0, C, down, down + C};
  for (std::int64_t q = 0; q < npix; ++q) {
    for (std::int64_t t = 0; t < s.taps; ++t) {
      const std::int64_t e = t * s.plan_tap_stride + q;
      float* p = grad + static_cast<std::int64_t>(s.plan.index[e]) * C + c0;
      const float* gq = s.g + q * s.g_stride + t * s.g_tap_stride;
      const float w[4] = {s.plan.w01[2 * e], s.plan.w01[2 * e + 1], s.plan.w23[2 * e], s.plan.w23[2 * e + 1]};
      for (int k = 0; k < 4; ++k) {
        float* pk = p + at[k];
        for (std::int64_t c = 0; c < count; ++c) pk[c] += w[k] * gq[c];
      }
    }
  }
}

void corner_dots(const PaddedImage& img, std::int64_t c0, std::int64_t count, const std::int32_t* index,
                 std::int64_t npix, const float* g, std::int64_t g_stride, float* out) {
  if constexpr (kHasX86Kernels) {
    if (use_avx2()) return corner_dots_avx2(img, c0, count, index, npix, g, g_stride, out);
  }
  const std::int64_t C = img.channels, down = img.padded_w * C;
  const std::int64_t at[4] = {0, C, down, down + C};
  for (std::int64_t q = 0; q < npix; ++q) {
    const float* p = img.data + static_cast<std::int64_t>(index[q]) * C + c0;
    const float* gq = g + q * g_stride;
    for (int k = 0; k < 4; ++k) {
      float s = 0.0f;
      for (std::int64_t c = 0; c < count; ++c) s += gq[c] * p[at[k] + c];
      out[4 * q + k] += s;
    }
  }
}

void transpose(const float* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, float* dst,
               std::int64_t dst_stride) {
  if constexpr (kHasX86Kernels) {
    if (use_avx2()) return transpose_avx2(src, src_stride, rows, cols, dst, dst_stride);
  }
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
  }
}

}  // namespace cpu
}  // namespace flexconv
