// CPU interpolate. The source indices and weights of every output row and column are
// computed once (math/interpolate.h, shared with CUDA) and reused for all planes; threads
// split the planes, so the backward scatter never has two threads writing one element.
#include "ops/interpolate.h"

#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/plane_loops.h"
#include "math/interpolate.h"

namespace flexconv {
namespace cpu {
namespace {

struct AxisTaps {
  std::vector<std::int64_t> i0, i1;
  std::vector<float> w0, w1;
};

AxisTaps axis_taps(InterpMode mode, std::int64_t in, std::int64_t out, double scale, bool align_corners) {
  AxisTaps t;
  t.i0.resize(static_cast<size_t>(out));
  t.i1.resize(static_cast<size_t>(out));
  t.w0.resize(static_cast<size_t>(out));
  t.w1.resize(static_cast<size_t>(out));
  const float lscale = math::linear_scale(in, out, align_corners, scale);
  for (std::int64_t o = 0; o < out; ++o) {
    if (mode == InterpMode::Nearest) {
      t.i0[o] = t.i1[o] = math::nearest_source(o, in, out, scale);
      t.w0[o] = 1.0f;
      t.w1[o] = 0.0f;
    } else {
      const math::LinearTap tap = math::linear_source(o, in, lscale, align_corners);
      t.i0[o] = tap.i0;
      t.i1[o] = tap.i1;
      t.w0[o] = tap.w0;
      t.w1[o] = tap.w1;
    }
  }
  return t;
}

std::int64_t plane_grain(const InterpShape& s) { return cpu::plane_grain(s.out_h * s.out_w); }

// Nearest taps that double the size exactly (source column o / 2 for output column o): the
// common 2x upsampling, which the kernels below run without the per-column index lookups.
bool doubles(InterpMode mode, const AxisTaps& t, std::int64_t in, std::int64_t out) {
  if (mode != InterpMode::Nearest || out != 2 * in) return false;
  for (std::int64_t o = 0; o < out; ++o) {
    if (t.i0[static_cast<size_t>(o)] != o / 2) return false;
  }
  return true;
}

// Source rows interpolated along the row (out_w floats each: w0 x[c0] + w1 x[c1] per output
// column), the last two kept: output rows read source rows in increasing order, each source row
// by up to four output rows in a 2x upsampling.
class RowCache {
 public:
  RowCache(const AxisTaps& tw, std::int64_t in_w, std::int64_t out_w) : tw_(tw), in_w_(in_w), out_w_(out_w) {
    for (auto& b : buf_) b.resize(static_cast<size_t>(out_w));
  }

  // Row `row` of plane number `plane_index` (whose floats start at `plane`), interpolated.
  const float* get(const float* plane, std::int64_t row, std::int64_t plane_index) {
    for (int k = 0; k < 2; ++k) {
      if (row_[k] == row && plane_[k] == plane_index) return buf_[k].data();
    }
    const int k = next_;
    next_ ^= 1;
    row_[k] = row;
    plane_[k] = plane_index;
    const float* r = plane + row * in_w_;
    float* h = buf_[k].data();
    for (std::int64_t ow = 0; ow < out_w_; ++ow) h[ow] = tw_.w0[ow] * r[tw_.i0[ow]] + tw_.w1[ow] * r[tw_.i1[ow]];
    return h;
  }

 private:
  const AxisTaps& tw_;
  std::int64_t in_w_, out_w_;
  std::vector<float> buf_[2];
  std::int64_t row_[2] = {-1, -1}, plane_[2] = {-1, -1};
  int next_ = 0;  // the buffer the next miss overwrites (the older one)
};

}  // namespace

void interpolate2d_forward(const InterpShape& s, InterpMode mode, const float* x, float* y, const float* base) {
  const AxisTaps th = axis_taps(mode, s.in_h, s.out_h, s.scale_h, s.align_corners);
  const AxisTaps tw = axis_taps(mode, s.in_w, s.out_w, s.scale_w, s.align_corners);
  const bool double_w = doubles(mode, tw, s.in_w, s.out_w);
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  parallel_for(
      s.planes,
      [&](std::int64_t p0, std::int64_t p1) {
        RowCache rows(tw, s.in_w, s.out_w);
        for (std::int64_t p = p0; p < p1; ++p) {
          const float* xp = x + p * in_plane;
          float* yp = y + p * out_plane;
          for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
            float* yr = yp + oh * s.out_w;
            const float* br = base ? base + p * out_plane + oh * s.out_w : nullptr;
            const float* r0 = xp + th.i0[oh] * s.in_w;
            if (double_w) {
              if (br) {
                for (std::int64_t iw = 0; iw < s.in_w; ++iw) {
                  yr[2 * iw] = br[2 * iw] + r0[iw];
                  yr[2 * iw + 1] = br[2 * iw + 1] + r0[iw];
                }
              } else {
                for (std::int64_t iw = 0; iw < s.in_w; ++iw) yr[2 * iw] = yr[2 * iw + 1] = r0[iw];
              }
              continue;
            }
            if (mode == InterpMode::Nearest) {
              if (br) {
                for (std::int64_t ow = 0; ow < s.out_w; ++ow) yr[ow] = br[ow] + r0[tw.i0[ow]];
              } else {
                for (std::int64_t ow = 0; ow < s.out_w; ++ow) yr[ow] = r0[tw.i0[ow]];
              }
              continue;
            }
            // Bilinear: the two source rows interpolated along the row (once per source row and
            // plane, rows.get), then blended, a vectorisable pass; the same products and sums
            // as a0 * (w0 x[r0][c0] + w1 x[r0][c1]) + a1 * (... r1 ...) per output.
            const float* h0 = rows.get(xp, th.i0[oh], p);
            const float* h1 = rows.get(xp, th.i1[oh], p);
            const float a0 = th.w0[oh], a1 = th.w1[oh];
            if (br) {
              for (std::int64_t ow = 0; ow < s.out_w; ++ow) yr[ow] = br[ow] + (a0 * h0[ow] + a1 * h1[ow]);
            } else {
              for (std::int64_t ow = 0; ow < s.out_w; ++ow) yr[ow] = a0 * h0[ow] + a1 * h1[ow];
            }
          }
        }
      },
      plane_grain(s));
}

void interpolate2d_backward(const InterpShape& s, InterpMode mode, const float* dy, float* grad_x) {
  const AxisTaps th = axis_taps(mode, s.in_h, s.out_h, s.scale_h, s.align_corners);
  const AxisTaps tw = axis_taps(mode, s.in_w, s.out_w, s.scale_w, s.align_corners);
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  if (doubles(mode, th, s.in_h, s.out_h) && doubles(mode, tw, s.in_w, s.out_w)) {
    // Exact 2x nearest: each input pixel is the sum of its 2x2 block, added in the order the
    // general loop below uses (row by row, left to right), so both give the same bits.
    for_each_grad_plane(s.planes, in_plane, out_plane, plane_grain(s), dy, grad_x,
                        [&](float* gp, const float* dp, std::int64_t) {
                          for (std::int64_t ih = 0; ih < s.in_h; ++ih) {
                            const float* d0 = dp + 2 * ih * s.out_w;
                            const float* d1 = d0 + s.out_w;
                            float* g = gp + ih * s.in_w;
                            for (std::int64_t iw = 0; iw < s.in_w; ++iw)
                              g[iw] = ((d0[2 * iw] + d0[2 * iw + 1]) + d1[2 * iw]) + d1[2 * iw + 1];
                          }
                        });
    return;
  }
  if (mode == InterpMode::Nearest) {
    scatter_planes(s.planes, in_plane, out_plane, plane_grain(s), dy, grad_x,
                   [&](float* gp, const float* dp, std::int64_t) {
                     for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
                       const float* dr = dp + oh * s.out_w;
                       float* g0 = gp + th.i0[oh] * s.in_w;
                       for (std::int64_t ow = 0; ow < s.out_w; ++ow) g0[tw.i0[ow]] += dr[ow];
                     }
                   });
    return;
  }
  // Bilinear, the forward's two passes transposed: the output gradient's rows summed into their
  // source rows first (whole rows, a vectorisable pass; in_h rows of out_w floats per plane),
  // then each summed row scattered along the row to its source columns. Scattering every output
  // element to its four sources took twice as long.
  for_each_grad_plane(s.planes, in_plane, out_plane, plane_grain(s), dy, grad_x,
                      [&](float* gp, const float* dp, std::int64_t) {
                        thread_local std::vector<float> summed;
                        summed.assign(static_cast<size_t>(s.in_h * s.out_w), 0.0f);
                        for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
                          const float* dr = dp + oh * s.out_w;
                          float* t0 = summed.data() + th.i0[oh] * s.out_w;
                          float* t1 = summed.data() + th.i1[oh] * s.out_w;
                          const float a0 = th.w0[oh], a1 = th.w1[oh];
                          for (std::int64_t ow = 0; ow < s.out_w; ++ow) t0[ow] += a0 * dr[ow];
                          for (std::int64_t ow = 0; ow < s.out_w; ++ow) t1[ow] += a1 * dr[ow];
                        }
                        std::memset(gp, 0, static_cast<std::size_t>(in_plane) * sizeof(float));
                        for (std::int64_t ih = 0; ih < s.in_h; ++ih) {
                          const float* t = summed.data() + ih * s.out_w;
                          float* g = gp + ih * s.in_w;
                          for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
                            g[tw.i0[ow]] += tw.w0[ow] * t[ow];
                            g[tw.i1[ow]] += tw.w1[ow] * t[ow];
                          }
                        }
                      });
}

}  // namespace cpu
}  // namespace flexconv
