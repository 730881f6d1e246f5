// The inner loops of the deformable kernels over a CHANNELS-LAST zero-bordered image:
// padded[(yp * (W+2) + xp) * C + c]. A sampling plan (math/bilinear.h, bilinear_padded_plan:
// padded pixel index of the top-left corner + 4 weights with the mask folded in) then
// addresses, for one (tap, pixel), a contiguous run of channels at each corner, so a vector
// of channels is sampled with 4 vector loads and 4 multiply-adds, instead of per-sample
// scalar work. The GEMM depth dimension is ordered (tap, channel) to match.
//
// AVX2 + FMA and AVX-512 code picked at run time, portable C++ otherwise
// (deform_channels_last_isa.cc). Every path forms a sample as (w0*v00 + w2*v10) + (w1*v01 + w3*v11). The
// vector paths read up to 15 floats past the last pixel of the image: padded buffers carry
// kPaddedSlack floats of slack.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

constexpr std::int64_t kPaddedSlack = 16;

// One (offset group, tap) row of a tile's sampling plan, from some pixel on. Weights are
// interleaved in pairs: w01[2q] = (y0,x0), w01[2q+1] = (y0,x1); w23[2q] = (y1,x0), w23[2q+1] = (y1,x1).
struct PlanRow {
  const std::int32_t* index;  // padded PIXEL index of the top-left corner
  const float* w01;
  const float* w23;
};

// A channels-last zero-bordered image.
struct PaddedImage {
  const float* data;
  std::int64_t channels;  // C: the pixel stride in floats
  std::int64_t padded_w;  // W + 2
};

// Sampling plans (math/bilinear.h, bilinear_padded_plan) of n points along one output row:
// point q samples y = y0 + dy[q], x = float(x0 + q * x_step) + dx[q] with mask[q] (1 when
// mask is null); its padded pixel index gets index_offset added.
struct PlanRun {
  float y0;
  std::int64_t x0, x_step;
  const float* dy;
  const float* dx;
  const float* mask;
  std::int64_t n, in_h, in_w;
  std::int32_t index_offset;
};
void plan_run(const PlanRun& r, std::int32_t* index, float* w01, float* w23);

// The offset-gradient geometry of a PlanRun's points (its mask is not used; see
// bilinear_padded_point), one entry per point: the padded index of the top-left corner (+
// index_offset) and the fractional parts for points of the derivative region (others: the
// zero block's index, ly = lx = 0); valid = 1 in the value region, grad_valid = 1 in the
// derivative region (else 0).
struct PointRun {
  std::int32_t* index;
  float* ly;
  float* lx;
  float* valid;
  float* grad_valid;
  PointRun advanced(std::int64_t q) const { return {index + q, ly + q, lx + q, valid + q, grad_valid + q}; }
};
void point_run(const PlanRun& r, const PointRun& out);

// Forward B panels of one tap for channels [c0, c0 + rows) (rows of the panels) and pixels
// [0, npix) of `plan`: sample (pixel j, channel c0 + r) goes to
// dst[(j / nr) * panel_stride + r * nr + j % nr]; pixels [npix, round_up(npix, nr)) get 0.
void sample_tap_panels(const PaddedImage& img, std::int64_t c0, std::int64_t rows, const PlanRow& plan,
                       std::int64_t npix, int nr, std::int64_t panel_stride, float* dst);

// Channels-last samples: out[q * out_stride + c] = sample (pixel q, channel c0 + c) for q in
// [0, npix), c in [0, count) (the transposed packer's panels, no transpose needed).
void sample_channel_rows(const PaddedImage& img, std::int64_t c0, std::int64_t count, const PlanRow& plan,
                         std::int64_t npix, float* out, std::int64_t out_stride);

// Input-gradient scatter into a channels-last zero-bordered gradient (same geometry as the
// image), every tap of a pixel before the next pixel (their corners overlap: they stay in L1):
// for q in [0, npix), for tap t in [0, taps), for each corner k in order, for c in [0, count):
//   grad[(index_t[q] + corner k) * C + c0 + c] += w_kt[q] * g[q * g_stride + t * g_tap_stride + c]
// where tap t's plan row is `plan` advanced by t * plan_tap_stride points. Per address the
// updates come in (q, tap, corner) order, whatever the channel split.
struct ScatterTaps {
  PlanRow plan;  // tap 0
  std::int64_t plan_tap_stride, taps;
  const float* g;
  std::int64_t g_stride, g_tap_stride;
};
void scatter_channel_rows(float* grad, std::int64_t channels, std::int64_t padded_w, std::int64_t c0,
                          std::int64_t count, const ScatterTaps& s, std::int64_t npix);

// Offset / mask gradient: for q in [0, npix), out[4q + k] += sum over c in [0, count) of
// g[q * g_stride + c] * corner_k(pixel index[q], channel c0 + c), corners in plan order,
// summed in a fixed order (vector lanes, then lanes reduced the same way every time).
void corner_dots(const PaddedImage& img, std::int64_t c0, std::int64_t count, const std::int32_t* index,
                 std::int64_t npix, const float* g, std::int64_t g_stride, float* out);

// dst[j * dst_stride + i] = src[i * src_stride + j] for i < rows, j < cols: one image row to
// channels-last (rows = channels) and back (rows = pixels).
void transpose(const float* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, float* dst,
               std::int64_t dst_stride);

// The per-ISA copies of the functions above (deform_channels_last_isa.cc; core/isa.h).
#define FLEXCONV_DEFORM_CHANNELS_LAST_API                                                                     \
  void plan_run(const PlanRun& r, std::int32_t* index, float* w01, float* w23);                               \
  void point_run(const PlanRun& r, const PointRun& out);                                                      \
  void sample_tap_panels(const PaddedImage& img, std::int64_t c0, std::int64_t rows, const PlanRow& plan,     \
                         std::int64_t npix, int nr, std::int64_t panel_stride, float* dst);                   \
  void sample_channel_rows(const PaddedImage& img, std::int64_t c0, std::int64_t count, const PlanRow& plan,  \
                           std::int64_t npix, float* out, std::int64_t out_stride);                           \
  void scatter_channel_rows(float* grad, std::int64_t channels, std::int64_t padded_w, std::int64_t c0,       \
                            std::int64_t count, const ScatterTaps& s, std::int64_t npix);                     \
  void corner_dots(const PaddedImage& img, std::int64_t c0, std::int64_t count, const std::int32_t* index,    \
                   std::int64_t npix, const float* g, std::int64_t g_stride, float* out);                     \
  void transpose(const float* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, float* dst, \
                 std::int64_t dst_stride);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_DEFORM_CHANNELS_LAST_API)

}  // namespace cpu
}  // namespace flexconv
