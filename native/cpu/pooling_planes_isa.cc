// The per-plane pooling kernels, compiled once per instruction set (core/isa.h); cpu/pooling.cc
// picks the copy for this CPU. They must not use inline library code (std::vector, std::max,
// ...): the linker could keep a wide copy for the whole program. Scratch memory comes from the
// caller.
//
// Both poolings are separable, so each plane is done in three flat passes that the compiler
// vectorises: (1) copy the plane into a padded buffer whose border holds the neutral value
// (-inf for max, 0 for sums), its width a multiple of the stride; (2) horizontal pass over
// the whole buffer as one long loop per kernel column (row r, output column j is flat index
// r*HW + j, reading buffer element S*(r*HW + j) + kw*d); (3) vertical pass per kernel row.
//
// Max pooling keeps PyTorch's tie rule: the first maximum in (kh, kw) order wins (strict '>'
// in both passes) and a NaN always wins (the last one, as in PyTorch's scan). The index of
// the chosen element is tracked through both passes. (A window whose
// in-image values are all -inf is detected and given PyTorch's index, the window's first
// in-image element.)

#include <cstdint>
#include <type_traits>

#include "core/lanes.h"
#include "cpu/pooling_planes.h"

FLEXCONV_ISA_BEGIN

namespace {

// Horizontal pass, one kernel column: dst[i] op= src[S*i + off] over i in [0, n).
template <int kStride, bool kFirst, bool kIdx>
void hmax(const float* __restrict src, std::int64_t stride_rt, std::int64_t off, std::int64_t n, float* __restrict dst,
          std::int32_t* __restrict idx, std::int32_t tap) {
  const std::int64_t S = kStride > 0 ? kStride : stride_rt;
  if (kFirst) {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = src[S * i + off];
    if (kIdx)
      for (std::int64_t i = 0; i < n; ++i) idx[i] = tap;
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = src[S * i + off];
    const bool take = v > dst[i] || v != v;
    dst[i] = take ? v : dst[i];
    if (kIdx) idx[i] = take ? tap : idx[i];
  }
}

struct Padded {
  std::int64_t ph, pw, hw;  // padded rows and columns; columns of the horizontal result (pw / S)
};

// Buffer geometry: rows and columns reach the last window ((out-1)*S + (K-1)*d + 1, which
// covers ceil-mode windows too) and the width is a multiple of the stride.
inline Padded padded_geometry(const PoolShape& s) {
  std::int64_t ph = (s.out_h - 1) * s.stride_h + (s.kernel_h - 1) * s.dil_h + 1;
  if (ph < s.in_h + s.pad_h) ph = s.in_h + s.pad_h;
  std::int64_t pw = (s.out_w - 1) * s.stride_w + (s.kernel_w - 1) * s.dil_w + 1;
  if (pw < s.in_w + s.pad_w) pw = s.in_w + s.pad_w;
  pw = (pw + s.stride_w - 1) / s.stride_w * s.stride_w + s.stride_w;  // room for the last taps
  return Padded{ph, pw, pw / s.stride_w};
}

void fill_padded(const PoolShape& s, const Padded& g, const float* x, float fill, float* __restrict p) {
  for (std::int64_t r = 0; r < g.ph; ++r) {
    float* row = p + r * g.pw;
    const std::int64_t ih = r - s.pad_h;
    if (ih < 0 || ih >= s.in_h) {
      for (std::int64_t c = 0; c < g.pw; ++c) row[c] = fill;
      continue;
    }
    for (std::int64_t c = 0; c < s.pad_w; ++c) row[c] = fill;
    const float* src = x + ih * s.in_w;
    for (std::int64_t c = 0; c < s.in_w; ++c) row[s.pad_w + c] = src[c];
    for (std::int64_t c = s.pad_w + s.in_w; c < g.pw; ++c) row[c] = fill;
  }
}

// The first in-image element of window (oh, ow) in (kh, kw) order, or -1.
std::int32_t first_in_image(const PoolShape& s, std::int64_t oh, std::int64_t ow) {
  for (std::int64_t kh = 0; kh < s.kernel_h; ++kh) {
    const std::int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dil_h;
    if (ih < 0 || ih >= s.in_h) continue;
    for (std::int64_t kw = 0; kw < s.kernel_w; ++kw) {
      const std::int64_t iw = ow * s.stride_w - s.pad_w + kw * s.dil_w;
      if (iw >= 0 && iw < s.in_w) return static_cast<std::int32_t>(ih * s.in_w + iw);
    }
  }
  return -1;
}

// Floats per row of max_wide_rows_with_indices's padded rows: the left padding, the row, and -inf
// up to the end of the last whole-vector load (16 outputs at a time, two vectors per tap).
std::int64_t wide_row_floats(const PoolShape& s) {
  const std::int64_t last_chunk = (s.out_w - 1) / 16 * 16;
  const std::int64_t reach = last_chunk * s.stride_w + (s.kernel_w - 1) * s.dil_w + 32;
  const std::int64_t inside = s.pad_w + s.in_w;
  return reach > inside ? reach : inside;
}

#if defined(__AVX512F__)
// max_plane's vertical step with indices, 16 outputs at a time (GCC leaves the plain loop scalar: a
// compare and two branches per output): output ow takes kernel row r's horizontal maximum hr[ow]
// where it is larger or NaN (all of them for the first kernel row), and its index row_base +
// ow * sw + hir[ow] * dw.
void vertical_max_with_indices(const float* hr, const std::int32_t* hir, std::int64_t n, std::int32_t row_base,
                               std::int32_t sw, std::int32_t dw, bool first, float* yr, std::int32_t* ir) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32(sw)), dwv = _mm512_set1_epi32(dw);
  for (std::int64_t ow = 0; ow < n; ow += 16) {
    const __mmask16 m = n - ow >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - ow)) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(m, hr + ow);
    const __m512i column =
        _mm512_add_epi32(_mm512_add_epi32(_mm512_set1_epi32(row_base + static_cast<std::int32_t>(ow) * sw), step),
                         _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(m, hir + ow), dwv));
    __mmask16 take = m;
    if (!first) {
      const __m512 current = _mm512_maskz_loadu_ps(m, yr + ow);
      take &= _mm512_cmp_ps_mask(v, current, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    }
    _mm512_mask_storeu_ps(yr + ow, take, v);
    _mm512_mask_storeu_epi32(ir + ow, take, column);
  }
}

// The outputs of a row whose maximum is -inf, 16 at a time: fn(ow) for each.
template <class Fn>
void for_each_minus_infinity(const float* yr, std::int64_t n, Fn fn) {
  const __m512 none = _mm512_set1_ps(-__builtin_huge_valf());
  for (std::int64_t ow = 0; ow < n; ow += 16) {
    const __mmask16 m = n - ow >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - ow)) - 1u);
    for (unsigned lost = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, yr + ow), none, _CMP_EQ_OQ); lost != 0;
         lost &= lost - 1) {
      fn(ow + __builtin_ctz(lost));
    }
  }
}
#endif

template <int kStride>
void max_plane(const PoolShape& s, const float* x, float* y, std::int32_t* indices, float* scratch) {
  const Padded g = padded_geometry(s);
  float* p = scratch;
  float* h = p + g.ph * g.pw;
  std::int32_t* hidx = reinterpret_cast<std::int32_t*>(h + g.ph * g.hw);
  fill_padded(s, g, x, -__builtin_huge_valf(), p);
  // Horizontal: h[r*hw + j] = max over kw of p[r*pw + S*j + kw*d]; the last few flat
  // positions would read past the buffer and are never used, so n stops short.
  const std::int64_t n = g.ph * g.hw - ((s.kernel_w - 1) * s.dil_w) / s.stride_w - 1;
  for (std::int64_t kw = 0; kw < s.kernel_w; ++kw) {
    const std::int64_t off = kw * s.dil_w;
    const std::int32_t tap = static_cast<std::int32_t>(kw);
    if (indices) {
      if (kw == 0)
        hmax<kStride, true, true>(p, s.stride_w, off, n, h, hidx, tap);
      else
        hmax<kStride, false, true>(p, s.stride_w, off, n, h, hidx, tap);
    } else {
      if (kw == 0)
        hmax<kStride, true, false>(p, s.stride_w, off, n, h, nullptr, tap);
      else
        hmax<kStride, false, false>(p, s.stride_w, off, n, h, nullptr, tap);
    }
  }
  // Vertical, one output row at a time, kernel rows in order.
  for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
    float* __restrict yr = y + oh * s.out_w;
    std::int32_t* __restrict ir = indices ? indices + oh * s.out_w : nullptr;
    for (std::int64_t kh = 0; kh < s.kernel_h; ++kh) {
      const std::int64_t r = oh * s.stride_h + kh * s.dil_h;
      const float* __restrict hr = h + r * g.hw;
      const std::int32_t* __restrict hir = hidx + r * g.hw;
      // Flat index in the input plane of column kw of output ow: row_base + ow*S + kw*d.
      const std::int32_t row_base = static_cast<std::int32_t>((r - s.pad_h) * s.in_w - s.pad_w);
      const std::int32_t sw = static_cast<std::int32_t>(s.stride_w), dw = static_cast<std::int32_t>(s.dil_w);
#if defined(__AVX512F__)
      if (ir) {
        vertical_max_with_indices(hr, hir, s.out_w, row_base, sw, dw, kh == 0, yr, ir);
        continue;
      }
#endif
      if (kh == 0) {
        for (std::int64_t ow = 0; ow < s.out_w; ++ow) yr[ow] = hr[ow];
        if (ir)
          for (std::int64_t ow = 0; ow < s.out_w; ++ow)
            ir[ow] = row_base + static_cast<std::int32_t>(ow) * sw + hir[ow] * dw;
        continue;
      }
      if (ir) {
        for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
          const float v = hr[ow];
          const bool take = v > yr[ow] || v != v;
          yr[ow] = take ? v : yr[ow];
          ir[ow] = take ? row_base + static_cast<std::int32_t>(ow) * sw + hir[ow] * dw : ir[ow];
        }
      } else {
        for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
          const float v = hr[ow];
          yr[ow] = (v > yr[ow] || v != v) ? v : yr[ow];
        }
      }
    }
    if (ir) {
      // Only when every in-image value of a window is -inf can the chosen element be padding;
      // PyTorch then reports the window's first in-image element.
#if defined(__AVX512F__)
      for_each_minus_infinity(yr, s.out_w, [&](std::int64_t ow) { ir[ow] = first_in_image(s, oh, ow); });
#else
      for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
        if (yr[ow] == -__builtin_huge_valf()) ir[ow] = first_in_image(s, oh, ow);
      }
#endif
    }
  }
}

// Max pooling without indices (inference) and average pooling, straight from the plane with
// whole-vector loads. Pass 1, per output row: each input column reduced over the window's
// in-image rows (kh order), stored at offset pad_w of a row whose borders hold the reduction's
// identity (-inf, 0). Pass 2, after every row of pass 1 is stored (so its loads at shifted
// offsets are not held up by stores in flight): the reduction over kw at every window start;
// output ow takes start ow*S, picked in registers. Max keeps PyTorch's rule (NaN wins, a -inf
// border never does); its value equals max_plane's, except that where +0 and -0 tie for the
// maximum the first in column-major rather than row-major order gives the sign (they compare
// equal). Sums run columns first, then across the window: (x00 + x10 + x20) + (x01 + ...).
struct MaxReduce {
  static float identity() { return -__builtin_huge_valf(); }
  static lanes::F32 combine(lanes::F32 acc, lanes::F32 v) { return lanes::max_scan(acc, v); }
  lanes::F32 finish(lanes::F32 v, std::int64_t, std::int64_t, int) const { return v; }
};

struct AverageReduce {
  const PoolPlaneArgs* a;
  static float identity() { return 0.0f; }
  static lanes::F32 combine(lanes::F32 acc, lanes::F32 v) { return lanes::add(acc, v); }
  // Outputs ow0 .. ow0 + n - 1 of row oh: sum / (div_h * div_w), as PoolPlaneArgs describes.
  lanes::F32 finish(lanes::F32 sum, std::int64_t oh, std::int64_t ow0, int n) const {
    using lanes::F32;
    return lanes::div(sum, lanes::mul(F32::splat(a->div_h[oh]), F32::load_first(a->div_w + ow0, n)));
  }
};

constexpr std::int64_t kBandRows = 16;  // output rows per band of reduce_plane_vectors

struct VectorGeometry {
  std::int64_t starts;  // window starts j = 0 .. starts-1 (column j - pad_w): (out_w-1)*S + 1
  std::int64_t row;     // floats per row of pass 1: every column pass 2 reads, and the alignment
};

VectorGeometry vector_geometry(const PoolShape& s) {
  const std::int64_t starts = (s.out_w - 1) * s.stride_w + 1;
  const std::int64_t reach = starts + (s.kernel_w - 1) * s.dil_w;
  const std::int64_t inside = s.pad_w + s.in_w;
  // + 16 for pass 2's last whole vector, + 16 for the shift that aligns each row's columns.
  return VectorGeometry{starts, ((reach > inside ? reach : inside) + 15) / 16 * 16 + 32};
}

#if defined(__AVX512F__)
// reduce_plane_vectors for planes whose rows fit two vectors (32x32 maps and smaller) and whose
// output rows fit one (16 outputs): each output row's column reductions stay in registers and
// tap kw of output ow, input column ow * stride_w + kw * dil_w - pad_w, is a lane permute across
// the two (the reduction's identity where it falls in the padding), so there is no padded row in
// memory to store and load back. The same operations in the same order, so the same bits; false
// (nothing written) for planes too wide. (Rows of up to 16 floats had taken each window start
// from one vector and then picked every stride-th; 17-32 went through the padded rows: a 3x3
// stride-2 pool on 32x32 planes ran at 0.85-1.1x ONNX Runtime's time.)
struct RowTaps {
  __m512i from[16];
  __mmask16 inside[16];
};

bool row_taps_fit(const PoolShape& s) { return s.in_w <= 32 && s.out_w <= 16 && s.kernel_w <= 16; }

RowTaps row_taps(const PoolShape& s) {
  RowTaps t;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i start = _mm512_sub_epi32(_mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(s.stride_w))),
                                         _mm512_set1_epi32(static_cast<int>(s.pad_w)));
  const __mmask16 outputs = static_cast<__mmask16>((1u << s.out_w) - 1u);
  for (std::int64_t kw = 0; kw < s.kernel_w; ++kw) {
    t.from[kw] = _mm512_add_epi32(start, _mm512_set1_epi32(static_cast<int>(kw * s.dil_w)));
    t.inside[kw] = outputs & _mm512_cmpge_epi32_mask(t.from[kw], _mm512_setzero_si512()) &
                   _mm512_cmplt_epi32_mask(t.from[kw], _mm512_set1_epi32(static_cast<int>(s.in_w)));
  }
  return t;
}

// Tap kw of every output from a row in one vector (kTwo false: a merge-masked permute) or two (the
// permute across both, then `padding` blended in): lanes of the row's columns, `padding` where
// the tap falls outside the row.
template <bool kTwo>
inline __m512 row_tap(const RowTaps& taps, __m512 lo, __m512 hi, std::int64_t kw, __m512 padding) {
  if (kTwo) return _mm512_mask_mov_ps(padding, taps.inside[kw], _mm512_permutex2var_ps(lo, taps.from[kw], hi));
  return _mm512_mask_permutexvar_ps(padding, taps.inside[kw], taps.from[kw], lo);
}

// fn(std::true_type) for rows of 17-32 floats (two vectors), fn(std::false_type) for shorter ones.
template <class Fn>
void with_row_vectors(const PoolShape& s, Fn fn) {
  if (s.in_w > 16) {
    fn(std::true_type{});
  } else {
    fn(std::false_type{});
  }
}

// Output rows of a plane whose rows fit one vector (kTwo false) or two.
template <bool kTwo, class Reduce>
void reduce_rows(const PoolShape& s, const Reduce& reduce, const RowTaps& taps, const float* x, float* y) {
  using lanes::F32;
  const __m512 identity = _mm512_set1_ps(Reduce::identity());
  const int n_out = static_cast<int>(s.out_w);
  const int n_lo = kTwo ? 16 : static_cast<int>(s.in_w), n_hi = kTwo ? static_cast<int>(s.in_w) - 16 : 0;
  const auto tap = [&](F32 lo, F32 hi, std::int64_t kw) { return F32{row_tap<kTwo>(taps, lo.v, hi.v, kw, identity)}; };
  for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
    std::int64_t kh0 = 0, kh1 = s.kernel_h;
    while (kh0 < kh1 && oh * s.stride_h - s.pad_h + kh0 * s.dil_h < 0) ++kh0;
    while (kh1 > kh0 && oh * s.stride_h - s.pad_h + (kh1 - 1) * s.dil_h >= s.in_h) --kh1;
    F32 lo{identity}, hi{identity};  // a window row entirely in the padding (ceil mode)
    for (std::int64_t kh = kh0; kh < kh1; ++kh) {
      const float* row = x + (oh * s.stride_h - s.pad_h + kh * s.dil_h) * s.in_w;
      const F32 vlo = F32::load_first(row, n_lo);
      lo = kh == kh0 ? vlo : Reduce::combine(lo, vlo);
      if (kTwo) {
        const F32 vhi = F32::load_first(row + 16, n_hi);
        hi = kh == kh0 ? vhi : Reduce::combine(hi, vhi);
      }
    }
    F32 acc = tap(lo, hi, 0);
    for (std::int64_t kw = 1; kw < s.kernel_w; ++kw) acc = Reduce::combine(acc, tap(lo, hi, kw));
    reduce.finish(acc, oh, 0, n_out).store_first(y + oh * s.out_w, n_out);
  }
}

// Planes whose rows fit: their `count` planes (one after another) with the taps worked out once
// (per plane they were a sixth of a 16x16 plane's time); false (nothing written) otherwise.
template <class Reduce>
bool reduce_rows_in_registers(const PoolShape& s, const Reduce& reduce, const float* x, float* y, std::int64_t count) {
  if (!row_taps_fit(s)) return false;
  const RowTaps taps = row_taps(s);
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  for (std::int64_t p = 0; p < count; ++p, x += in_plane, y += out_plane) {
    // The next plane is fetched while this one is reduced: 16x16 planes ran 1.2-1.5x faster so;
    // 8x8 ones (four lines each) no faster. (Past the tensor's end for its last plane:
    // prefetches never fault.)
    if (in_plane >= 256) {
      for (std::int64_t at = 0; at < in_plane; at += 16) {
        _mm_prefetch(reinterpret_cast<const char*>(x + in_plane + at), _MM_HINT_T0);
      }
    }
    with_row_vectors(s, [&](auto two) { reduce_rows<decltype(two)::value>(s, reduce, taps, x, y); });
  }
  return true;
}
#endif

#if defined(__AVX512F__)
// t (at flat indices `where`) replaces v (at `at`) in the lanes where it is larger or NaN:
// PyTorch's max scan, ties keep the earlier value.
inline void take_larger(__m512 t, __m512i where, __m512& v, __m512i& at) {
  const __mmask16 take = _mm512_cmp_ps_mask(t, v, _CMP_GT_OQ) | _mm512_cmp_ps_mask(t, t, _CMP_UNORD_Q);
  v = _mm512_mask_blend_ps(take, v, t);
  at = _mm512_mask_blend_epi32(take, at, where);
}

// Up to 16 windows of output row oh from output column ow0 (out_mask): row_max(iy, v, at) gives
// each in-image window row's maximum along the row and its flat index, and the rows are merged
// down the window in order (the first taken whole, then take_larger); values and indices stored
// at y and indices (the output row's column ow0).
template <class RowMax>
void max_windows_with_indices(const PoolShape& s, std::int64_t oh, std::int64_t ow0, __mmask16 out_mask, RowMax row_max,
                              float* y, std::int32_t* indices) {
  const __m512 none = _mm512_set1_ps(-__builtin_huge_valf());
  __m512 best = none;
  __m512i arg = _mm512_setzero_si512();
  bool first = true;
  for (std::int64_t kh = 0; kh < s.kernel_h; ++kh) {
    const std::int64_t iy = oh * s.stride_h - s.pad_h + kh * s.dil_h;
    if (iy < 0 || iy >= s.in_h) continue;
    __m512 v = none;  // (row_max sets both: a window has at least one column)
    __m512i at = _mm512_setzero_si512();
    row_max(iy, v, at);
    at = _mm512_add_epi32(at, _mm512_set1_epi32(static_cast<int>(iy * s.in_w)));
    if (first) {
      best = v;
      arg = at;
      first = false;
    } else {
      take_larger(v, at, best, arg);
    }
  }
  _mm512_mask_storeu_ps(y, out_mask, best);
  _mm512_mask_storeu_epi32(indices, out_mask, arg);
  // Only when every in-image value of a window is -inf can the chosen element be padding;
  // PyTorch then reports the window's first in-image element (as max_plane).
  for (unsigned lost = _mm512_mask_cmp_ps_mask(out_mask, best, none, _CMP_EQ_OQ); lost != 0; lost &= lost - 1) {
    const int l = __builtin_ctz(lost);
    indices[l] = first_in_image(s, oh, ow0 + l);
  }
}

// Output rows of max_plane with the argmax for planes whose rows fit one vector (kTwo false) or
// two (as reduce_rows): each window row's taps are lane permutes of the input row (-inf in the
// padding), reduced along the row first and then down the window's rows in order, with
// PyTorch's rules (a larger value or a NaN replaces, ties keep the first), so the same values and
// indices as max_plane, without its padded copy and 8-wide row loops (a 3x3 stride-2 pool with
// indices on 16x16 planes took 5.7x the time of the one without, on 32x32 planes 5.8x).
template <bool kTwo>
void max_rows_with_indices(const PoolShape& s, const RowTaps& taps, const float* x, float* y, std::int32_t* indices) {
  const __m512 none = _mm512_set1_ps(-__builtin_huge_valf());
  const int n_in = static_cast<int>(s.in_w), n_out = static_cast<int>(s.out_w);
  const __mmask16 lo_mask = static_cast<__mmask16>(kTwo ? 0xFFFFu : (1u << n_in) - 1u);
  const __mmask16 hi_mask = static_cast<__mmask16>(kTwo ? (1u << (n_in - 16)) - 1u : 0u);
  const __mmask16 out_mask = static_cast<__mmask16>((1u << n_out) - 1u);
  const auto row_max = [&](std::int64_t iy, __m512& v, __m512i& at) {
    const __m512 lo = _mm512_maskz_loadu_ps(lo_mask, x + iy * s.in_w);
    const __m512 hi = kTwo ? _mm512_maskz_loadu_ps(hi_mask, x + iy * s.in_w + 16) : lo;
    v = row_tap<kTwo>(taps, lo, hi, 0, none);
    at = taps.from[0];
    for (std::int64_t kw = 1; kw < s.kernel_w; ++kw)
      take_larger(row_tap<kTwo>(taps, lo, hi, kw, none), taps.from[kw], v, at);
  };
  for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
    max_windows_with_indices(s, oh, 0, out_mask, row_max, y + oh * s.out_w, indices + oh * s.out_w);
  }
}

// `count` planes (one after another), the taps worked out once; false (nothing written) for
// planes too wide (row_taps_fit).
bool max_rows_in_registers(const PoolShape& s, const float* x, float* y, std::int32_t* indices, std::int64_t count) {
  if (!row_taps_fit(s)) return false;
  const RowTaps taps = row_taps(s);
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  for (std::int64_t p = 0; p < count; ++p, x += in_plane, y += out_plane, indices += out_plane) {
    with_row_vectors(s, [&](auto two) { max_rows_with_indices<decltype(two)::value>(s, taps, x, y, indices); });
  }
  return true;
}

// max_rows_with_indices for rows wider than two vectors, stride 1 or 2 along the width (kS): 16
// outputs at a time, tap kw of each from whole-vector loads of the row at the tap's first column,
// every kS-th lane picked by a permute (16 lanes' taps always fit in 32 floats). The rows are read
// from copies with -inf borders (padded rows, made just before first use, so still in L1): masked
// loads at the rows' edges instead ran 3x slower than max_plane on 112x112 planes. The same order
// of comparisons (along the window row, then down the rows), so the same values and indices as
// max_plane (a padding tap's column is only kept where the window's maximum is -inf, and then
// replaced), without its scalar horizontal pass: a 3x3 stride-2 pool with indices in 0.56-0.84x
// max_plane's time (64x64 planes 0.56x, 112x112 0.84x; it had taken 2-2.6x the pool without
// indices on 64x64 planes).
template <int kS, int kKw>
void max_wide_rows_with_indices(const PoolShape& s, float* padded, const float* x, float* y, std::int32_t* indices) {
  const std::int64_t kernel_w = kKw ? kKw : s.kernel_w;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i lane_columns = _mm512_mullo_epi32(lane, _mm512_set1_epi32(kS));
  const std::int64_t pw = wide_row_floats(s);
  std::int64_t copied = 0;  // input rows [0, copied) are in `padded`
  for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
    const std::int64_t last_row = oh * s.stride_h - s.pad_h + (s.kernel_h - 1) * s.dil_h;
    for (; copied <= last_row && copied < s.in_h; ++copied) {
      float* __restrict dst = padded + copied * pw;
      const float* __restrict src = x + copied * s.in_w;
      for (std::int64_t c = 0; c < s.pad_w; ++c) dst[c] = -__builtin_huge_valf();
      for (std::int64_t c = 0; c < s.in_w; ++c) dst[s.pad_w + c] = src[c];
      for (std::int64_t c = s.pad_w + s.in_w; c < pw; ++c) dst[c] = -__builtin_huge_valf();
    }
    for (std::int64_t ow0 = 0; ow0 < s.out_w; ow0 += 16) {
      const auto row_max = [&](std::int64_t iy, __m512& v, __m512i& at) {
        const float* row = padded + iy * pw;
        for (std::int64_t kw = 0; kw < kernel_w; ++kw) {
          const std::int64_t c = ow0 * kS + kw * s.dil_w;  // lane 0's tap, in padded columns
          const __m512 lo = _mm512_loadu_ps(row + c);
          const __m512 t = kS == 1 ? lo : _mm512_permutex2var_ps(lo, lane_columns, _mm512_loadu_ps(row + c + 16));
          const __m512i column = _mm512_add_epi32(lane_columns, _mm512_set1_epi32(static_cast<int>(c - s.pad_w)));
          if (kw == 0) {
            v = t;
            at = column;
          } else {
            take_larger(t, column, v, at);
          }
        }
      };
      const std::int64_t n = s.out_w - ow0 < 16 ? s.out_w - ow0 : 16;
      max_windows_with_indices(s, oh, ow0, static_cast<__mmask16>((1u << n) - 1u), row_max, y + oh * s.out_w + ow0,
                               indices + oh * s.out_w + ow0);
    }
  }
}

// `count` planes by max_wide_rows_with_indices, the padded rows in `scratch`; false (nothing
// written) for strides above 2 along the width.
bool max_wide_rows_in_registers(const PoolShape& s, const float* x, float* y, std::int32_t* indices, float* scratch,
                                std::int64_t count) {
  if (s.stride_w != 1 && s.stride_w != 2) return false;
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  for (std::int64_t p = 0; p < count; ++p, x += in_plane, y += out_plane, indices += out_plane) {
    if (s.stride_w == 1) {
      max_wide_rows_with_indices<1, 0>(s, scratch, x, y, indices);
    } else if (s.kernel_w == 3) {
      max_wide_rows_with_indices<2, 3>(s, scratch, x, y, indices);  // ResNet's stem pool
    } else {
      max_wide_rows_with_indices<2, 0>(s, scratch, x, y, indices);
    }
  }
  return true;
}
#endif

// kStride: the stride along the width when it is 1 or 2 (0: any, read from s), so that the
// output ranges of pass 2 divide by a constant (a 64-bit division per output row per vector made
// a 3x3 stride-2 pool on 16x16 planes slower than ONNX Runtime's).
template <int kStride, class Reduce>
void reduce_plane_vectors(const PoolShape& s, const Reduce& reduce, const float* x, float* y, float* scratch) {
  using lanes::F32;
  constexpr int W = F32::kWidth;
  const float identity = Reduce::identity();
  const VectorGeometry g = vector_geometry(s);
  // kBandRows rows of g.row floats. Each row starts pad_w floats before a 64-byte boundary, so pass 1
  // stores whole cache lines (a store split over two lines is slow to forward to pass 2).
  const std::uintptr_t line = 64, shift = (16 - s.pad_w % 16) % 16 * sizeof(float);
  float* columns =
      reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(scratch) + line - 1) / line * line + shift);
  // Pass 2 reads whole vectors of starts, so up to this column of each row.
  const std::int64_t read_end = (g.starts - 1) / W * W + W + (s.kernel_w - 1) * s.dil_w;
  const std::int64_t S = kStride ? kStride : s.stride_w;
  // Bands of kBandRows output rows: pass 1 on the band, then pass 2 on it (bounded scratch; a
  // small plane is one band).
  for (std::int64_t band = 0; band < s.out_h; band += kBandRows) {
    const std::int64_t band_end = band + kBandRows < s.out_h ? band + kBandRows : s.out_h;
    for (std::int64_t oh = band; oh < band_end; ++oh) {
      float* vr = columns + (oh - band) * g.row;
      for (std::int64_t c = 0; c < s.pad_w; ++c) vr[c] = identity;
      for (std::int64_t c = s.pad_w + s.in_w; c < read_end; ++c) vr[c] = identity;
      // The window row's in-image input rows [kh0, kh1), kh order.
      std::int64_t kh0 = 0, kh1 = s.kernel_h;
      while (kh0 < kh1 && oh * s.stride_h - s.pad_h + kh0 * s.dil_h < 0) ++kh0;
      while (kh1 > kh0 && oh * s.stride_h - s.pad_h + (kh1 - 1) * s.dil_h >= s.in_h) --kh1;
      for (std::int64_t c0 = 0; c0 < s.in_w; c0 += W) {
        const int n = s.in_w - c0 < W ? static_cast<int>(s.in_w - c0) : W;
        F32 acc = F32::splat(identity);  // a window row entirely in the padding (ceil mode)
        for (std::int64_t kh = kh0; kh < kh1; ++kh) {
          const float* p = x + (oh * s.stride_h - s.pad_h + kh * s.dil_h) * s.in_w + c0;
          const F32 v = n == W ? F32::loadu(p) : F32::load_first(p, n);
          acc = kh == kh0 ? v : Reduce::combine(acc, v);
        }
        if (n == W)
          acc.storeu(vr + s.pad_w + c0);
        else
          acc.store_first(vr + s.pad_w + c0, n);
      }
    }
    for (std::int64_t oh = band; oh < band_end; ++oh) {
      const float* vr = columns + (oh - band) * g.row;
      float* __restrict yr = y + oh * s.out_w;
      for (std::int64_t j0 = 0; j0 < g.starts; j0 += W) {
        F32 acc = F32::loadu(vr + j0);
        for (std::int64_t kw = 1; kw < s.kernel_w; ++kw) acc = Reduce::combine(acc, F32::loadu(vr + j0 + kw * s.dil_w));
        // The outputs whose start ow*S falls in [j0, j0 + W).
        const std::int64_t ow0 = (j0 + S - 1) / S;
        std::int64_t ow1 = (j0 + W + S - 1) / S;
        if (ow1 > s.out_w) ow1 = s.out_w;
        if (ow1 <= ow0) continue;
        const int n = static_cast<int>(ow1 - ow0);
        const F32 picked = S == 1 ? acc : acc.pick_every(static_cast<int>(ow0 * S - j0), static_cast<int>(S));
        reduce.finish(picked, oh, ow0, n).store_first(yr + ow0, n);
      }
    }
  }
}

// 2x2 stride 2 without padding (the classic down-sampling pool): every window is inside
// the plane, so no padded copy; taps in (kh, kw) order, same tie and NaN rules.
template <bool kIdx>
void max_plane_2x2s2(const PoolShape& s, const float* x, float* y, std::int32_t* indices) {
  const std::int64_t w = s.in_w;
  for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
    const float* __restrict r0 = x + 2 * oh * w;
    const float* __restrict r1 = r0 + w;
    float* __restrict yr = y + oh * s.out_w;
    std::int32_t* __restrict ir = kIdx ? indices + oh * s.out_w : nullptr;
    const std::int32_t base = static_cast<std::int32_t>(2 * oh * w);
    for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
      float m = r0[2 * ow];
      std::int32_t arg = base + static_cast<std::int32_t>(2 * ow);
      const float taps[3] = {r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
      const std::int32_t offs[3] = {1, static_cast<std::int32_t>(w), static_cast<std::int32_t>(w) + 1};
      for (int t = 0; t < 3; ++t) {
        const bool take = taps[t] > m || taps[t] != taps[t];
        m = take ? taps[t] : m;
        if (kIdx) arg = take ? base + static_cast<std::int32_t>(2 * ow) + offs[t] : arg;
      }
      yr[ow] = m;
      if (kIdx) ir[ow] = arg;
    }
  }
}

// Average over 2x2 windows, stride 2, no padding (octave convolution's band pooling): no
// padded copy; the sums in the order of reduce_plane_vectors (columns, then across), so both
// give the same bits.
void avg_plane_2x2s2(const PoolShape& s, const float* x, float* y) {
  const std::int64_t w = s.in_w;
  for (std::int64_t oh = 0; oh < s.out_h; ++oh) {
    const float* __restrict r0 = x + 2 * oh * w;
    const float* __restrict r1 = r0 + w;
    float* __restrict yr = y + oh * s.out_w;
    for (std::int64_t ow = 0; ow < s.out_w; ++ow) {
      yr[ow] = ((r0[2 * ow] + r1[2 * ow]) + (r0[2 * ow + 1] + r1[2 * ow + 1])) / 4.0f;
    }
  }
}

bool plain_2x2s2(const PoolShape& s) {
  return s.kernel_h == 2 && s.kernel_w == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_h == 0 && s.pad_w == 0 &&
         s.dil_h == 1 && s.dil_w == 1 && 2 * s.out_h <= s.in_h && 2 * s.out_w <= s.in_w;
}

// fn(std::integral_constant<int, S>{}) with the plane kernels' stride parameter S: 1, 2, or 0
// for any other stride along the width.
template <class Fn>
void with_stride_w(std::int64_t stride_w, Fn fn) {
  if (stride_w == 1) return fn(std::integral_constant<int, 1>{});
  if (stride_w == 2) return fn(std::integral_constant<int, 2>{});
  fn(std::integral_constant<int, 0>{});
}

}  // namespace

std::int64_t pool_scratch_floats(const PoolShape& s, bool max_with_indices) {
  if (max_with_indices) {  // max_plane: the padded copy and the horizontal results; or the padded rows
    const Padded g = padded_geometry(s);
    const std::int64_t plane = g.ph * g.pw + 2 * g.ph * g.hw + 16;
    const std::int64_t rows = s.in_h * wide_row_floats(s);
    return plane > rows ? plane : rows;
  }
  // reduce_plane_vectors: one band of rows, + 16 to align them.
  const std::int64_t band = s.out_h < kBandRows ? s.out_h : kBandRows;
  return band * vector_geometry(s).row + 32;
}

void max_pool_planes(const PoolPlaneArgs& a, const float* x, float* y, std::int32_t* indices, float* scratch,
                     std::int64_t count) {
  const PoolShape& s = *a.s;
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  // fn(x, y, indices) plane by plane.
  const auto each = [&](auto fn) {
    for (std::int64_t p = 0; p < count; ++p)
      fn(x + p * in_plane, y + p * out_plane, indices ? indices + p * out_plane : nullptr);
  };
  if (plain_2x2s2(s)) {
    if (indices) {
      each([&](const float* xp, float* yp, std::int32_t* ip) { max_plane_2x2s2<true>(s, xp, yp, ip); });
    } else {
      each([&](const float* xp, float* yp, std::int32_t*) { max_plane_2x2s2<false>(s, xp, yp, nullptr); });
    }
    return;
  }
  if (!indices) {
#if defined(__AVX512F__)
    if (reduce_rows_in_registers(s, MaxReduce{}, x, y, count)) return;
#endif
    with_stride_w(s.stride_w, [&](auto stride) {
      each([&](const float* xp, float* yp, std::int32_t*) {
        reduce_plane_vectors<decltype(stride)::value>(s, MaxReduce{}, xp, yp, scratch);
      });
    });
    return;
  }
#if defined(__AVX512F__)
  if (max_rows_in_registers(s, x, y, indices, count)) return;
  if (max_wide_rows_in_registers(s, x, y, indices, scratch, count)) return;
#endif
  with_stride_w(s.stride_w, [&](auto stride) {
    each([&](const float* xp, float* yp, std::int32_t* ip) {
      max_plane<decltype(stride)::value>(s, xp, yp, ip, scratch);
    });
  });
}

void avg_pool_planes(const PoolPlaneArgs& a, const float* x, float* y, float* scratch, std::int64_t count) {
  const PoolShape& s = *a.s;
  const std::int64_t in_plane = s.in_h * s.in_w, out_plane = s.out_h * s.out_w;
  if (plain_2x2s2(s)) {
    for (std::int64_t p = 0; p < count; ++p) avg_plane_2x2s2(s, x + p * in_plane, y + p * out_plane);
    return;
  }
  const AverageReduce reduce{&a};
#if defined(__AVX512F__)
  if (reduce_rows_in_registers(s, reduce, x, y, count)) return;
#endif
  with_stride_w(s.stride_w, [&](auto stride) {
    for (std::int64_t p = 0; p < count; ++p) {
      reduce_plane_vectors<decltype(stride)::value>(s, reduce, x + p * in_plane, y + p * out_plane, scratch);
    }
  });
}

FLEXCONV_ISA_END
