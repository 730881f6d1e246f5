// The depthwise kernels' bodies, compiled once per instruction set (core/isa.h);
// conv2d_depthwise.cc picks the copy for this CPU. Everything the bodies call is defined inside
// the namespace or out of line, so no inline function is compiled twice with different
// instruction sets. The forward and weight-gradient kernels are written against lanes::F32 over
// the phased, bordered planes of conv2d_depthwise.h; the input gradient of strided layers keeps
// plain row loops.
#include <cstdint>
#include <type_traits>

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
// Output rows per call: each tap's weight, broadcast once, serves this many vectors, and as many
// chains of multiply-adds run side by side (eight: a 7x7 plane's rows in one group; fits AVX2's
// 16 registers with the weight and a load; four were 1.05-1.1x slower on 32x32 and 56x56 maps).
constexpr int kRowsPerCall = 8;

// n outputs of `out` from `at` (n <= kLanes): the sums v plus the residual, then ReLU (the
// epilogue, as apply_epilogue would run it after), stored.
void store_outputs(const OutputPlane& out, std::int64_t at, F32 v, int n) {
  if (out.residual)
    v = lanes::add(v, n == kLanes ? F32::loadu(out.residual + at) : F32::load_first(out.residual + at, n));
  if (out.relu) v = lanes::relu(v);
  if (n == kLanes) {
    v.storeu(out.out + at);
  } else {
    v.store_first(out.out + at, n);
  }
}

// Output pixels [x0, x0 + n) of output rows [oy, oy + R): KT taps (compile-time for 3x3, else
// 0 and g's count). kPick 2: the vector sums input columns 2 x0 + lane, and its even lanes are
// the outputs (PhasedPlane::pick).
template <int R, int KT, int kPick>
void rows_vector(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets, const float* taps,
                 float bias, const OutputPlane& out, std::int64_t oy, std::int64_t x0, int n) {
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
    store_outputs(out, (oy + q) * g.out_w + x0, kPick == 1 ? acc[q] : acc[q].pick_every(0, kPick), n);
  }
}

// Outputs per vector: every lane, or every kPick-th.
template <int kPick>
constexpr int outputs_per_vector() {
  return kPick == 1 ? kLanes : (kLanes + kPick - 1) / kPick;
}

template <int R, int KT, int kPick>
void row_group(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets, const float* taps,
               float bias, const OutputPlane& out, std::int64_t oy) {
  constexpr int kOut = outputs_per_vector<kPick>();
  for (std::int64_t x0 = 0; x0 < g.out_w; x0 += kOut) {
    const int n = static_cast<int>(g.out_w - x0 < kOut ? g.out_w - x0 : kOut);
    rows_vector<R, KT, kPick>(g, in, offsets, taps, bias, out, oy, x0, n);
  }
}

// call(std::integral_constant<int, R>{}) for R = count, 0 < count <= kMax: the last rows of a
// plane (fewer than kRowsPerCall) as one group of their count, a template instance per count (a
// row alone is one chain of dependent multiply-adds).
template <int kMax, class Call>
void with_row_count(std::int64_t count, Call call) {
  if constexpr (kMax > 0) {
    if (count == kMax) {
      call(std::integral_constant<int, kMax>{});
    } else {
      with_row_count<kMax - 1>(count, call);
    }
  }
}

template <int KT, int kPick>
void rows_by_taps(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets, const float* taps,
                  float bias, const OutputPlane& out, std::int64_t oy0, std::int64_t oy1) {
  std::int64_t oy = oy0;
  for (; oy + kRowsPerCall <= oy1; oy += kRowsPerCall) {
    row_group<kRowsPerCall, KT, kPick>(g, in, offsets, taps, bias, out, oy);
  }
  with_row_count<kRowsPerCall - 1>(
      oy1 - oy, [&](auto rows) { row_group<decltype(rows)::value, KT, kPick>(g, in, offsets, taps, bias, out, oy); });
}

template <int kPick>
void rows_by_kernel(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets,
                    const float* taps, float bias, const OutputPlane& out, std::int64_t oy0, std::int64_t oy1) {
  if (g.kernel_h == 3 && g.kernel_w == 3) {
    rows_by_taps<9, kPick>(g, in, offsets, taps, bias, out, oy0, oy1);
  } else {
    rows_by_taps<0, kPick>(g, in, offsets, taps, bias, out, oy0, oy1);
  }
}

// An input row of up to two vectors (lanes [0, kLanes) in lo, the rest in hi), zeros past its
// end; zeros for a row outside the image.
struct InputRow {
  F32 lo, hi;
};
// (kHalves: the vectors a row takes, known at compile time.)
template <int kHalves>
InputRow input_row(const math::Conv2dGeometry& g, const float* plane, std::int64_t iy) {
  if (iy < 0 || iy >= g.in_h) return {F32::zero(), F32::zero()};
  const float* p = plane + iy * g.in_w;
  const int width = static_cast<int>(g.in_w);
  if (kHalves == 1) return {F32::load_first(p, width), F32::zero()};
  return {F32::loadu(p), F32::load_first(p + kLanes, width - kLanes)};
}

// columns[j] lines tap column j of a padded input row (an InputRow) up with the output pixels
// that read it: lane x gets input column x S + j - pad_w, zeros outside the input (rows are
// loaded with zeros past in_w, and lane_map keeps only [0, 2 kLanes)) and past the last output.
template <int S>
void tap_columns(const math::Conv2dGeometry& g, lanes::LaneMap (&columns)[3]) {
  for (int j = 0; j < 3; ++j) {
    int from[kLanes];
    for (int x = 0; x < kLanes; ++x) from[x] = x < g.out_w ? static_cast<int>(x * S + j - g.pad_w) : -1;
    columns[j] = lanes::lane_map(from);
  }
}

// Output rows [oy, oy + R) of a 3x3 dilation-1 layer at stride S from registers: padded input
// row r of the group (input row oy S - pad_h + r, zeros outside the image) is loaded once, and
// lane remap j of it lines tap column j up with the outputs (input column x S + j - pad_w in
// lane x, zeros outside); each output row q then takes taps (r - q S, j). The taps enter every
// row's sum in row-major order after the bias, as in rows_vector, so the bits are the same.
template <int R, int S, int kHalves>
void rows_from_registers(const math::Conv2dGeometry& g, const float* plane, const lanes::LaneMap (&columns)[3],
                         const float* taps, float bias, const OutputPlane& out, std::int64_t oy) {
  F32 acc[R];
  for (int q = 0; q < R; ++q) acc[q] = F32::splat(bias);
    // (Unrolled whole, so that acc stays in registers and the tap tests fold away.)
#pragma GCC unroll 32
  for (int r = 0; r < (R - 1) * S + 3; ++r) {
    const InputRow row = input_row<kHalves>(g, plane, oy * S - g.pad_h + r);
#pragma GCC unroll 3
    for (int j = 0; j < 3; ++j) {
      const F32 column = lanes::remap(row.lo, row.hi, columns[j]);
#pragma GCC unroll 16
      for (int q = 0; q < R; ++q) {
        const int i = r - q * S;
        if (i >= 0 && i < 3) acc[q] = lanes::fmadd(F32::broadcast(taps + i * 3 + j), column, acc[q]);
      }
    }
  }
  for (int q = 0; q < R; ++q) store_outputs(out, (oy + q) * g.out_w, acc[q], static_cast<int>(g.out_w));
}

template <int S, int kHalves>
void plane_from_registers(const math::Conv2dGeometry& g, const float* plane, const lanes::LaneMap (&columns)[3],
                          const float* taps, float bias, const OutputPlane& out, std::int64_t oy0, std::int64_t oy1) {
  std::int64_t oy = oy0;
  for (; oy + kRowsPerCall <= oy1; oy += kRowsPerCall) {
    rows_from_registers<kRowsPerCall, S, kHalves>(g, plane, columns, taps, bias, out, oy);
  }
  with_row_count<kRowsPerCall - 1>(oy1 - oy, [&](auto rows) {
    rows_from_registers<decltype(rows)::value, S, kHalves>(g, plane, columns, taps, bias, out, oy);
  });
}

// Output planes [plane0, plane1) (plane = image * channels + channel: each input plane's
// `mult` output planes), rows [oy0, oy1) of each.
template <int S, int kHalves>
void planes_from_registers(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                           const ConvEpilogue& ep, float* out, std::int64_t plane0, std::int64_t plane1,
                           std::int64_t oy0, std::int64_t oy1) {
  lanes::LaneMap columns[3];
  tap_columns<S>(g, columns);
  const auto [C, O, mult, HW, P, KK, sw] = dims_of(g);
  for (std::int64_t plane = plane0; plane < plane1; ++plane) {
    const std::int64_t b = plane / C, c = plane - b * C;
    for (std::int64_t o = c * mult; o < (c + 1) * mult; ++o) {
      const OutputPlane to{out + (b * O + o) * P, ep.residual ? ep.residual + (b * O + o) * P : nullptr, ep.relu};
      plane_from_registers<S, kHalves>(g, input + plane * HW, columns, weight + o * KK, bias ? bias[o] : 0.0f, to, oy0,
                                       oy1);
    }
  }
}

// grad_weight[o, 0..9) of a layer whose rows fit the registers, over every image in order: for
// each output row, the three padded input rows it reads (zeros outside the image) loaded and
// their tap columns remapped, times the grad_out row. Lanes past the last output are zeros on
// both sides; padding columns and rows are zeros multiplied in, as the reference multiplies them
// (inf x 0 is NaN). (Sharing an input row's remaps between the output rows that read it made
// GCC keep the sums in memory: the products' rows were conditional.)
template <int S, int kHalves>
void weight_grad_from_registers(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                                std::int64_t o, float* grad_weight) {
  lanes::LaneMap columns[3];
  tap_columns<S>(g, columns);
  const auto [C, O, mult, HW, P, KK, sw] = dims_of(g);
  const int out_w = static_cast<int>(g.out_w);
  F32 acc[9];
  for (int t = 0; t < 9; ++t) acc[t] = F32::zero();
  for (std::int64_t b = 0; b < g.batch; ++b) {
    const float* plane = input + (b * C + o / mult) * HW;
    const float* dy = grad_out + (b * O + o) * P;
    for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
      const F32 d = F32::load_first(dy + oy * out_w, out_w);
#pragma GCC unroll 3
      for (int i = 0; i < 3; ++i) {
        const InputRow row = input_row<kHalves>(g, plane, oy * S - g.pad_h + i);
#pragma GCC unroll 3
        for (int j = 0; j < 3; ++j) {
          acc[i * 3 + j] = lanes::fmadd(d, lanes::remap(row.lo, row.hi, columns[j]), acc[i * 3 + j]);
        }
      }
    }
  }
  for (int t = 0; t < 9; ++t) grad_weight[o * 9 + t] = static_cast<float>(lanes::sum_in_double(acc[t]));
}

// Input-gradient planes [plane0, plane1) of a stride-S layer with one output per channel whose
// rows fit the registers: input row iy takes grad_out row oy through tap row i where
// oy S - pad_h + i = iy, and lane ix of remap j of that row holds grad_out column ox where
// ox S - pad_w + j = ix (zeros where none does). An input row is kHalves vectors; four rows per
// pass, each its own chains of multiply-adds.
template <int S, int kHalves>
void input_grad_from_registers(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,
                               float* grad_input, std::int64_t plane0, std::int64_t plane1) {
  lanes::LaneMap columns[kHalves][3];
  for (int h = 0; h < kHalves; ++h) {
    for (int j = 0; j < 3; ++j) {
      int from[kLanes];
      for (int x = 0; x < kLanes; ++x) {
        const std::int64_t ix = h * kLanes + x, at = ix + g.pad_w - j;  // ox S
        from[x] = ix < g.in_w && at >= 0 && at % S == 0 ? static_cast<int>(at / S) : -1;
      }
      columns[h][j] = lanes::lane_map(from);  // (grad_out rows are loaded with zeros past out_w)
    }
  }
  constexpr int kRows = 4;
  const auto [C, O, mult, HW, P, KK, sw] = dims_of(g);
  const int in_w = static_cast<int>(g.in_w), out_w = static_cast<int>(g.out_w);
  for (std::int64_t plane = plane0; plane < plane1; ++plane) {
    const float* w = weight + plane % C * 9;
    const float* dy = grad_out + plane * P;
    float* gin = grad_input + plane * HW;
    for (std::int64_t iy0 = 0; iy0 < g.in_h; iy0 += kRows) {
      F32 acc[kRows][kHalves];
      for (int q = 0; q < kRows; ++q) {
        for (int h = 0; h < kHalves; ++h) acc[q][h] = F32::zero();
      }
#pragma GCC unroll 3
      for (int i = 0; i < 3; ++i) {
#pragma GCC unroll 4
        for (int q = 0; q < kRows; ++q) {
          const std::int64_t at = iy0 + q + g.pad_h - i;  // oy S
          if (at < 0 || at % S != 0 || at / S >= g.out_h) continue;
          const F32 d = F32::load_first(dy + at / S * out_w, out_w);
#pragma GCC unroll 3
          for (int j = 0; j < 3; ++j) {
            const F32 tap = F32::broadcast(w + i * 3 + j);
            for (int h = 0; h < kHalves; ++h) acc[q][h] = lanes::fmadd(tap, lanes::remap(d, columns[h][j]), acc[q][h]);
          }
        }
      }
      for (int q = 0; q < kRows && iy0 + q < g.in_h; ++q) {
        float* row = gin + (iy0 + q) * in_w;
        if (kHalves == 1) {
          acc[q][0].store_first(row, in_w);
        } else {
          acc[q][0].storeu(row);
          acc[q][kHalves - 1].store_first(row + kLanes, in_w - kLanes);
        }
      }
    }
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

// Whole vectors of zeros over each row, then the input row over them: no call per piece (the
// library's copy and fill calls were half the time of a 7x7 or 14x14 plane's forward).
void depthwise_bordered_rows(const Conv2dGeometry& g, const float* plane, std::int64_t r0, std::int64_t rows,
                             std::int64_t row, float* dst) {
  const std::int64_t copied = g.in_w < row - g.pad_w ? g.in_w : row - g.pad_w;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* line = dst + r * row;
    // (The last vector runs on into the next row, which is written after it.)
    for (std::int64_t x = 0; x < row; x += kLanes) F32::zero().storeu(line + x);
    const std::int64_t iy = r0 + r - g.pad_h;
    if (iy < 0 || iy >= g.in_h) continue;
    const float* src = plane + iy * g.in_w;
    float* at = line + g.pad_w;
    std::int64_t x = 0;
    for (; x + kLanes <= copied; x += kLanes) F32::loadu(src + x).storeu(at + x);
    if (x < copied)
      F32::load_first(src + x, static_cast<int>(copied - x)).store_first(at + x, static_cast<int>(copied - x));
  }
}

void depthwise_rows(const Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets, const float* taps,
                    float bias, const OutputPlane& out, std::int64_t oy0, std::int64_t oy1) {
  if (in.pick == 2) {
    rows_by_kernel<2>(g, in, offsets, taps, bias, out, oy0, oy1);
  } else {
    rows_by_kernel<1>(g, in, offsets, taps, bias, out, oy0, oy1);
  }
}

void depthwise_planes_in_registers(const Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                                   const ConvEpilogue& ep, float* out, std::int64_t plane0, std::int64_t plane1,
                                   std::int64_t oy0, std::int64_t oy1) {
  const bool two = g.in_w > kLanes;
  if (g.stride_w == 2) {
    (two ? planes_from_registers<2, 2> : planes_from_registers<2, 1>)(g, input, weight, bias, ep, out, plane0, plane1,
                                                                      oy0, oy1);
  } else {
    (two ? planes_from_registers<1, 2> : planes_from_registers<1, 1>)(g, input, weight, bias, ep, out, plane0, plane1,
                                                                      oy0, oy1);
  }
}

void depthwise_weight_grad_in_registers(const Conv2dGeometry& g, const float* grad_out, const float* input,
                                        std::int64_t o, float* grad_weight) {
  const bool two = g.in_w > kLanes;
  if (g.stride_w == 2) {
    (two ? weight_grad_from_registers<2, 2> : weight_grad_from_registers<2, 1>)(g, grad_out, input, o, grad_weight);
  } else {
    (two ? weight_grad_from_registers<1, 2> : weight_grad_from_registers<1, 1>)(g, grad_out, input, o, grad_weight);
  }
}

void depthwise_input_grad_in_registers(const Conv2dGeometry& g, const float* grad_out, const float* weight,
                                       float* grad_input, std::int64_t plane0, std::int64_t plane1) {
  if (g.in_w > kLanes) {
    input_grad_from_registers<2, 2>(g, grad_out, weight, grad_input, plane0, plane1);
  } else {
    input_grad_from_registers<2, 1>(g, grad_out, weight, grad_input, plane0, plane1);
  }
}

int depthwise_vector_width() { return kLanes; }

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
