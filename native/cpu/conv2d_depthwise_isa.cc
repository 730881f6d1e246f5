// The depthwise kernels' bodies, compiled once per instruction set (core/isa.h);
// conv2d_depthwise.cc picks the copy for this CPU. Everything the bodies call is defined inside
// the namespace or out of line, so no inline function is compiled twice with different
// instruction sets. The forward and weight-gradient kernels are written against lanes::F32 over
// the phased, bordered planes of conv2d_depthwise.h; the input gradient of strided layers keeps
// plain row loops.
#include <cstdint>

#include "core/lanes.h"
#include "cpu/conv2d_depthwise.h"

FLEXCONV_ISA_BEGIN
namespace {

// The sizes every depthwise body works with: channels, output channels and the channel
// multiplier, input and output plane sizes, kernel taps, horizontal stride.
struct Dims {
  std::int64_t C, O, mult, HW, P, KK, sw;
};
Dims dims_of(const math::Conv2dGeometry& g) {
  return {g.in_channels,           g.out_channels, g.out_channels / g.in_channels, g.in_h * g.in_w, g.out_h * g.out_w,
          g.kernel_h * g.kernel_w, g.stride_w};
}

void fill_plane(float* p, std::int64_t n, float v) {
  for (std::int64_t i = 0; i < n; ++i) p[i] = v;
}

// One kernel tap of one output row: output row oy reads input row iy (inside the image) with
// tap (i, j) = tap; output columns [lo, hi) read input columns x0 + ox * stride_w, all inside.
struct RowTap {
  std::int64_t oy, iy, tap, x0, lo, hi;
};

// fn(row_tap) for every output row and every tap whose input row lies inside the image, in
// (oy, i, j) order.
template <class Fn>
void for_each_row_tap(const math::Conv2dGeometry& g, Fn fn) {
  for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
    for (std::int64_t i = 0; i < g.kernel_h; ++i) {
      const std::int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
      if (iy < 0 || iy >= g.in_h) continue;
      for (std::int64_t j = 0; j < g.kernel_w; ++j) {
        const std::int64_t x0 = j * g.dil_w - g.pad_w;
        std::int64_t lo, hi;
        math::conv_valid_range(x0, g.stride_w, g.in_w, g.out_w, &lo, &hi);
        fn(RowTap{oy, iy, i * g.kernel_w + j, x0, lo, hi});
      }
    }
  }
}

using lanes::F32;
constexpr int kLanes = F32::kWidth;
// Output rows per call: each tap's weight, broadcast once, serves this many vectors.
constexpr int kRowsPerCall = 4;

// Output pixels [x0, x0 + n) of output rows [oy, oy + R): KT taps (compile-time for 3x3, else
// 0 and g's count). kPick 2: the vector sums input columns 2 x0 + lane, and its even lanes are
// the outputs (PhasedPlane::pick).
template <int R, int KT, int kPick>
void rows_vector(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets, const float* taps,
                 float bias, float* out, std::int64_t oy, std::int64_t x0, int n) {
  const std::int64_t count = KT ? KT : g.kernel_h * g.kernel_w;
  const float* base = in.bordered + (oy * g.stride_h - in.first_row) * in.row + x0 * kPick;
  const std::int64_t next_row = g.stride_h * in.row;
  F32 acc[R];
  for (int q = 0; q < R; ++q) acc[q] = F32::splat(bias);
  for (std::int64_t t = 0; t < count; ++t) {
    const F32 w = F32::splat(taps[t]);
    for (int q = 0; q < R; ++q) acc[q] = lanes::fmadd(w, F32::loadu(base + q * next_row + offsets[t]), acc[q]);
  }
  for (int q = 0; q < R; ++q) {
    const F32 v = kPick == 1 ? acc[q] : acc[q].pick_every(0, kPick);
    float* dst = out + (oy + q) * g.out_w + x0;
    if (n == kLanes) {
      v.storeu(dst);
    } else {
      v.store_first(dst, n);
    }
  }
}

// Outputs per vector: every lane, or every kPick-th.
template <int kPick>
constexpr int outputs_per_vector() {
  return kPick == 1 ? kLanes : (kLanes + kPick - 1) / kPick;
}

template <int R, int KT, int kPick>
void row_group(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets, const float* taps,
               float bias, float* out, std::int64_t oy) {
  constexpr int kOut = outputs_per_vector<kPick>();
  for (std::int64_t x0 = 0; x0 < g.out_w; x0 += kOut) {
    const int n = static_cast<int>(g.out_w - x0 < kOut ? g.out_w - x0 : kOut);
    rows_vector<R, KT, kPick>(g, in, offsets, taps, bias, out, oy, x0, n);
  }
}

template <int KT, int kPick>
void rows_by_taps(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets, const float* taps,
                  float bias, float* out, std::int64_t oy0, std::int64_t oy1) {
  std::int64_t oy = oy0;
  for (; oy + kRowsPerCall <= oy1; oy += kRowsPerCall) {
    row_group<kRowsPerCall, KT, kPick>(g, in, offsets, taps, bias, out, oy);
  }
  for (; oy < oy1; ++oy) row_group<1, KT, kPick>(g, in, offsets, taps, bias, out, oy);
}

template <int kPick>
void rows_by_kernel(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets,
                    const float* taps, float bias, float* out, std::int64_t oy0, std::int64_t oy1) {
  if (g.kernel_h == 3 && g.kernel_w == 3) {
    rows_by_taps<9, kPick>(g, in, offsets, taps, bias, out, oy0, oy1);
  } else {
    rows_by_taps<0, kPick>(g, in, offsets, taps, bias, out, oy0, oy1);
  }
}

// acc[t] += dy x the input tap t reads, for the first `count` (<= 9) taps.
template <bool kWhole>
[[gnu::always_inline]] inline void tap_products(const float* dy, const float* base, const std::int64_t* offsets,
                                                int count, int n, F32 (&acc)[9]) {
  const F32 d = lanes::load_whole_or_first<kWhole>(dy, n);
  for (int t = 0; t < 9; ++t) {
    if (t < count) acc[t] = lanes::fmadd(d, lanes::load_whole_or_first<kWhole>(base + offsets[t], n), acc[t]);
  }
}

}  // namespace

using math::Conv2dGeometry;

// Input-gradient planes t in [t0, t1) (t = image * in_channels + c).
void depthwise_backward_input_planes(const Conv2dGeometry& g, const float* grad_out, const float* weight,
                                     float* grad_input, std::int64_t t0, std::int64_t t1) {
  const auto [C, O, mult, HW, P, KK, sw] = dims_of(g);
  {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t b = t / C, c = t - b * C;
      float* gin = grad_input + t * HW;
      fill_plane(gin, HW, 0.0f);
      for (std::int64_t m = 0; m < mult; ++m) {
        const std::int64_t o = c * mult + m;
        const float* go = grad_out + (b * O + o) * P;
        const float* w = weight + o * KK;
        for_each_row_tap(g, [&](const RowTap& r) {
          const float* gorow = go + r.oy * g.out_w;
          float* irow = gin + r.iy * g.in_w;
          const float wv = w[r.tap];
          if (sw == 1) {
            for (std::int64_t ox = r.lo; ox < r.hi; ++ox) irow[r.x0 + ox] += wv * gorow[ox];
          } else {
            for (std::int64_t ox = r.lo; ox < r.hi; ++ox) irow[r.x0 + ox * sw] += wv * gorow[ox];
          }
        });
      }
    }
  }
}

void depthwise_rows(const Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets, const float* taps,
                    float bias, float* out, std::int64_t oy0, std::int64_t oy1) {
  if (in.pick == 2) {
    rows_by_kernel<2>(g, in, offsets, taps, bias, out, oy0, oy1);
  } else {
    rows_by_kernel<1>(g, in, offsets, taps, bias, out, oy0, oy1);
  }
}

void depthwise_tap_sums(const Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets, int count,
                        const float* grad_plane, double* sums) {
  const std::int64_t whole = g.out_w / kLanes * kLanes;
  const int tail = static_cast<int>(g.out_w - whole);
  F32 acc[9];
  for (int t = 0; t < 9; ++t) acc[t] = F32::zero();
  // Column strips outer, rows inner: one straight-line body per loop keeps acc in registers.
  for (std::int64_t x0 = 0; x0 < whole; x0 += kLanes) {
    for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
      const float* base = in.bordered + (oy * g.stride_h - in.first_row) * in.row + x0;
      tap_products<true>(grad_plane + oy * g.out_w + x0, base, offsets, count, kLanes, acc);
    }
  }
  for (std::int64_t oy = 0; tail && oy < g.out_h; ++oy) {
    const float* base = in.bordered + (oy * g.stride_h - in.first_row) * in.row + whole;
    tap_products<false>(grad_plane + oy * g.out_w + whole, base, offsets, count, tail, acc);
  }
  for (int t = 0; t < count; ++t) sums[t] += lanes::sum_in_double(acc[t]);
}

FLEXCONV_ISA_END
