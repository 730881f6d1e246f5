// Run-time dispatch of cpu/deform_channels_last.h to the copy of deform_channels_last_isa.cc for
// the active instruction set.
#include "cpu/deform_channels_last.h"

namespace flexconv {
namespace cpu {

void plan_run(const PlanRun& r, std::int32_t* index, float* w01, float* w23) {
  FLEXCONV_PICK_ISA(plan_run)(r, index, w01, w23);
}

void point_run(const PlanRun& r, const PointRun& out) { FLEXCONV_PICK_ISA(point_run)(r, out); }

void sample_tap_panels(const PaddedImage& img, std::int64_t c0, std::int64_t rows, const PlanRow& plan,
                       std::int64_t npix, int nr, std::int64_t panel_stride, float* dst) {
  FLEXCONV_PICK_ISA(sample_tap_panels)(img, c0, rows, plan, npix, nr, panel_stride, dst);
}

void sample_channel_rows(const PaddedImage& img, std::int64_t c0, std::int64_t count, const PlanRow& plan,
                         std::int64_t npix, float* out, std::int64_t out_stride) {
  FLEXCONV_PICK_ISA(sample_channel_rows)(img, c0, count, plan, npix, out, out_stride);
}

void scatter_channel_rows(float* grad, std::int64_t channels, std::int64_t padded_w, std::int64_t c0,
                          std::int64_t count, const ScatterTaps& s, std::int64_t npix) {
  FLEXCONV_PICK_ISA(scatter_channel_rows)(grad, channels, padded_w, c0, count, s, npix);
}

void corner_dots(const PaddedImage& img, std::int64_t c0, std::int64_t count, const std::int32_t* index,
                 std::int64_t npix, const float* g, std::int64_t g_stride, float* out) {
  FLEXCONV_PICK_ISA(corner_dots)(img, c0, count, index, npix, g, g_stride, out);
}

void transpose(const float* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, float* dst,
               std::int64_t dst_stride) {
  FLEXCONV_PICK_ISA(transpose)(src, src_stride, rows, cols, dst, dst_stride);
}

}  // namespace cpu
}  // namespace flexconv
