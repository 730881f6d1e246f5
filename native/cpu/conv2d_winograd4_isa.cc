// The transforms of Winograd F(4x4, 3x3) (cpu/conv2d_winograd4_kernels.h), compiled once per
// instruction set (core/isa.h).
//
// The AVX-512 copy works on 16 tiles at a time, one per lane, whatever runs they come from, as
// F(2x2, 3x3)'s does (conv2d_winograd_isa.cc): a patch row of the 16 tiles is read into a
// 64-column window by masked loads, one set per run (run k's tiles own window positions 4 l ..
// 4 l + 3 of their lanes l, so runs never overlap and padding is masked off), plus a second
// window four columns on for each tile's columns 4 and 5; two levels of permutations split the
// windows into the tiles' six columns. The output side mirrors it: four columns per tile
// interleaved back into 64 and stored with one mask per run.
//
// Both copies compute every tile alike: the 1-D transforms below, on rows first and then on
// columns (input), on columns first and then on rows (output and weights), so a tile's floats do
// not depend on how a chunk was cut (the other copies are plain loops, tile by tile).
#include <cstdint>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/conv2d_winograd4_kernels.h"
#include "cpu/conv2d_winograd_isa_shared.h"

FLEXCONV_ISA_BEGIN
namespace {

constexpr int kPoints = 36;
// A^T e = (1, 1, 1, 1) for e the unit vector at 1 (A^T's column 1), so adding b to m at point
// (1, 1) adds b to all 16 outputs of the tile: the bias in one addition instead of sixteen.
constexpr int kBiasPoint = 6 * 1 + 1;

// The 1-D transforms (conv2d_winograd4_kernels.h has the matrices), on floats or on vectors of
// them, one tile or kernel per lane (GCC's and Clang's vector arithmetic: a scalar operand applies
// to every lane). Always inlined: called on vectors, GCC kept them out of line (a call per row,
// its operands through memory).

// B^T d of six values.
template <class V>
[[gnu::always_inline]] inline void input_1d(const V d[6], V v[6]) {
  v[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  v[1] = (d[3] + d[4]) - 4.0f * (d[1] + d[2]);
  v[2] = (d[4] - d[3]) + 4.0f * (d[1] - d[2]);
  v[3] = (d[4] - d[2]) + 2.0f * (d[3] - d[1]);
  v[4] = (d[4] - d[2]) - 2.0f * (d[3] - d[1]);
  v[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// A^T m of six values.
template <class V>
[[gnu::always_inline]] inline void output_1d(const V m[6], V y[4]) {
  const V sum12 = m[1] + m[2], diff12 = m[1] - m[2], sum34 = m[3] + m[4], diff34 = m[3] - m[4];
  y[0] = m[0] + sum12 + sum34;
  y[1] = diff12 + 2.0f * diff34;
  y[2] = sum12 + 4.0f * sum34;
  y[3] = diff12 + 8.0f * diff34 + m[5];
}

// G g of three values.
template <class V>
[[gnu::always_inline]] inline void weight_1d(const V g[3], V u[6]) {
  u[0] = 0.25f * g[0];
  u[1] = (-1.0f / 6.0f) * (g[0] + g[1] + g[2]);
  u[2] = (-1.0f / 6.0f) * (g[0] - g[1] + g[2]);
  u[3] = (1.0f / 24.0f) * g[0] + (1.0f / 12.0f) * g[1] + (1.0f / 6.0f) * g[2];
  u[4] = (1.0f / 24.0f) * g[0] - (1.0f / 12.0f) * g[1] + (1.0f / 6.0f) * g[2];
  u[5] = g[2];
}

// A dy of four values (the adjoint of output_1d).
template <class V>
[[gnu::always_inline]] inline void grad_1d(const V d[4], V z[6]) {
  const V sum02 = d[0] + d[2], sum13 = d[1] + d[3];
  const V quad02 = d[0] + 4.0f * d[2], wide13 = 2.0f * d[1] + 8.0f * d[3];
  z[0] = d[0];
  z[1] = sum02 + sum13;
  z[2] = sum02 - sum13;
  z[3] = quad02 + wide13;
  z[4] = quad02 - wide13;
  z[5] = d[3];
}

// G^T u of six values (the adjoint of weight_1d).
template <class V>
[[gnu::always_inline]] inline void inverse_weight_1d(const V u[6], V w[3]) {
  const V sum12 = u[1] + u[2], diff21 = u[2] - u[1], sum34 = u[3] + u[4], diff34 = u[3] - u[4];
  w[0] = 0.25f * u[0] - (1.0f / 6.0f) * sum12 + (1.0f / 24.0f) * sum34;
  w[1] = (1.0f / 6.0f) * diff21 + (1.0f / 12.0f) * diff34;
  w[2] = (1.0f / 6.0f) * (sum34 - sum12) + u[5];
}

// Z = A dy A^T from the rows' transforms h[r] = (dy A^T)[r] (four output rows): z[6 i + j].
template <class V>
[[gnu::always_inline]] inline void grad_columns(const V h[4][6], V z[kPoints]) {
  for (int j = 0; j < 6; ++j) {
    const V column[4] = {h[0][j], h[1][j], h[2][j], h[3][j]};
    V t[6];
    grad_1d(column, t);
    for (int i = 0; i < 6; ++i) z[6 * i + j] = t[i];
  }
}

// dW = G^T u G of one channel pair (u[6 a + b]) into w[3 i + j]: rows first, then columns.
template <class V>
[[gnu::always_inline]] inline void inverse_weight_transform(const V u[kPoints], V w[9]) {
  V t[6][3];  // u G
  for (int a = 0; a < 6; ++a) inverse_weight_1d(u + 6 * a, t[a]);
  for (int j = 0; j < 3; ++j) {
    const V column[6] = {t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j]};
    V r[3];
    inverse_weight_1d(column, r);
    for (int i = 0; i < 3; ++i) w[3 * i + j] = r[i];
  }
}

// V = B^T d B from the rows' transforms h[r] = (d B)[r] (given, as the vector code makes them
// one row at a time): v[6 i + j].
template <class V>
[[gnu::always_inline]] inline void input_columns(const V h[6][6], V v[kPoints]) {
  for (int j = 0; j < 6; ++j) {
    const V column[6] = {h[0][j], h[1][j], h[2][j], h[3][j], h[4][j], h[5][j]};
    V t[6];
    input_1d(column, t);
    for (int i = 0; i < 6; ++i) v[6 * i + j] = t[i];
  }
}

// Rows i of (A^T m) from m[6 r + j]: t[i][j].
template <class V>
[[gnu::always_inline]] inline void output_columns(const V m[kPoints], V t[4][6]) {
  for (int j = 0; j < 6; ++j) {
    const V column[6] = {m[j], m[6 + j], m[12 + j], m[18 + j], m[24 + j], m[30 + j]};
    V y[4];
    output_1d(column, y);
    for (int i = 0; i < 4; ++i) t[i][j] = y[i];
  }
}

// U = G g G^T of one 3x3 kernel g (row-major): u[6 a + b].
template <class V>
[[gnu::always_inline]] inline void weight_transform(const V g[9], V u[kPoints]) {
  V gg[6][3];  // G g
  for (int j = 0; j < 3; ++j) {
    const V column[3] = {g[j], g[3 + j], g[6 + j]};
    V t[6];
    weight_1d(column, t);
    for (int a = 0; a < 6; ++a) gg[a][j] = t[a];
  }
  for (int a = 0; a < 6; ++a) weight_1d(gg[a], u + 6 * a);
}

[[maybe_unused]] bool input_tiles_scalar(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                                         const float* channel, float* dst, const WinogradVLayout& layout) {
  return input_tiles_plain<4, kPoints>(runs, nruns, p, channel, dst, layout, [](const float* d, float* v) {
    float h[6][6];
    for (int r = 0; r < 6; ++r) input_1d(d + 6 * r, h[r]);
    input_columns(h, v);
  });
}

[[maybe_unused]] void output_tiles_scalar(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                                          const float* m, std::int64_t xi_stride, float bias, const float* residual,
                                          bool relu, float* channel) {
  output_tiles_plain<4, kPoints>(runs, nruns, p, m, xi_stride, bias, residual, relu, channel,
                                 [](const float* m_tile, float b, float* y) {
                                   float v[kPoints], t[4][6];
                                   for (int xi = 0; xi < kPoints; ++xi) v[xi] = m_tile[xi];
                                   v[kBiasPoint] += b;
                                   output_columns(v, t);
                                   for (int r = 0; r < 4; ++r) output_1d(t[r], y + 4 * r);
                                 });
}

[[maybe_unused]] bool grad_output_tiles_scalar(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                                               const float* channel, float* dst, std::int64_t xi_stride) {
  return grad_output_tiles_plain<4, kPoints>(runs, nruns, p, channel, dst, xi_stride, [](const float* dy, float* z) {
    float h[4][6];
    for (int r = 0; r < 4; ++r) grad_1d(dy + 4 * r, h[r]);
    grad_columns(h, z);
  });
}

#if defined(__AVX512F__)
// (Index vectors made where they are used: a namespace-scope __m512i would be initialised with
// AVX-512 instructions when the addon loads, on any CPU.)
inline __m512 pick(__m512 a, __m512i idx, __m512 b) { return _mm512_permutex2var_ps(a, idx, b); }

// Positions 4 l + c (c = 0..3, l = 0..15) of a 64-position window w[0..3] (16 each) as four
// vectors, lane l of columns[c] holding position 4 l + c.
inline void split_by_four(const __m512 w[4], __m512 columns[4]) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 even_lo = pick(w[0], even, w[1]), odd_lo = pick(w[0], odd, w[1]);
  const __m512 even_hi = pick(w[2], even, w[3]), odd_hi = pick(w[2], odd, w[3]);
  columns[0] = pick(even_lo, even, even_hi);
  columns[1] = pick(odd_lo, even, odd_hi);
  columns[2] = pick(even_lo, odd, even_hi);
  columns[3] = pick(odd_lo, odd, odd_hi);
}

// Positions 4 l and 4 l + 1 of such a window: split_by_four's columns[0] and [1].
inline void split_first_two(const __m512 w[4], __m512 columns[2]) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  columns[0] = pick(pick(w[0], even, w[1]), even, pick(w[2], even, w[3]));
  columns[1] = pick(pick(w[0], odd, w[1]), even, pick(w[2], odd, w[3]));
}

// The inverse of split_by_four: w[q] gets positions 16 q .. 16 q + 15, position 4 l + c from lane
// l of columns[c].
inline void join_by_four(const __m512 columns[4], __m512 w[4]) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  // (c0, c2) and (c1, c3) interleaved, then those pairs interleaved: c0 c1 c2 c3 per lane.
  const __m512 even_lo = pick(columns[0], lo, columns[2]), even_hi = pick(columns[0], hi, columns[2]);
  const __m512 odd_lo = pick(columns[1], lo, columns[3]), odd_hi = pick(columns[1], hi, columns[3]);
  w[0] = pick(even_lo, lo, odd_lo);
  w[1] = pick(even_lo, hi, odd_lo);
  w[2] = pick(even_hi, lo, odd_hi);
  w[3] = pick(even_hi, hi, odd_hi);
}

bool input_tiles_avx512(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* channel,
                        float* dst, const WinogradVLayout& layout) {
  // Groups of 16 tiles start at multiples of 16, so with panels a multiple of 16 wide a group's
  // 16 lanes lie in one panel.
  if (layout.panel_width % 16 != 0) return input_tiles_scalar(runs, nruns, p, channel, dst, layout);
  // A run's part of the current group: its plane, first patch row, and the masks of the window
  // positions it owns inside the plane (position q of the window holds input column xbase + q,
  // of the second window xbase + 4 + q).
  struct Piece {
    const float* plane;
    std::int64_t iy0, xbase;
    __mmask16 window[4], shifted[4];
  };
  Piece pieces[16];
  int npieces = 0;
  std::int64_t tile = 0;
  // The sum of every V written: non-finite iff some input was (or the sum overflowed).
  __m512 sum = _mm512_setzero_ps();
  auto piece = [&](int lane0, const WinogradRun& run, std::int64_t tx, int count) {
    const std::int64_t xbase = 4 * tx - p.pad_w - 4 * lane0;
    const std::int64_t own_lo = 4 * lane0, own_hi = 4 * (lane0 + count);
    const std::int64_t lo = std::max(own_lo, -xbase), hi = std::min(own_hi, p.in_w - xbase);
    const std::int64_t slo = std::max(own_lo, -(xbase + 4)), shi = std::min(own_hi, p.in_w - (xbase + 4));
    Piece& pc = pieces[npieces++];
    pc.plane = channel + run.image * p.in_image_stride;
    pc.iy0 = 4 * run.ty - p.pad_h;
    pc.xbase = xbase;
    for (int q = 0; q < 4; ++q) {
      pc.window[q] = lane_range(lo - 16 * q, hi - 16 * q);
      pc.shifted[q] = lane_range(slo - 16 * q, shi - 16 * q);
    }
    // The next tile row's four new patch rows, fetched while this group is computed (the planes
    // are read once, from memory: without it a third of the transform's time was the loads).
    const std::int64_t first = std::max<std::int64_t>(xbase + own_lo, 0);
    const std::int64_t last = std::min<std::int64_t>(xbase + own_hi + 4, p.in_w);
    for (std::int64_t iy = std::max<std::int64_t>(pc.iy0 + 6, 0); iy < std::min(pc.iy0 + 10, p.in_h); ++iy) {
      const float* row = pc.plane + iy * p.in_w;
      for (std::int64_t x = first; x < last; x += 16) _mm_prefetch(reinterpret_cast<const char*>(row + x), _MM_HINT_T0);
    }
    // And this group's six patch rows in the next channel's plane.
    prefetch_next_plane_rows(pc.plane, p.in_h, p.in_w, pc.iy0, 6, first, last);
  };
  auto done = [&](int lanes) {
    __m512 h[6][6];  // h[r] = (d B)[r] of the 16 tiles
    for (int r = 0; r < 6; ++r) {
      __m512 window[4], shifted[4];
      for (int q = 0; q < 4; ++q) window[q] = shifted[q] = _mm512_setzero_ps();
      for (int k = 0; k < npieces; ++k) {
        const Piece& pc = pieces[k];
        const std::int64_t iy = pc.iy0 + r;
        if (iy < 0 || iy >= p.in_h) continue;
        const float* row = pc.plane + iy * p.in_w + pc.xbase;
        // A piece of a few tiles owns one or two of the four quarters: the others' masked loads
        // are skipped (they cost a load slot all the same). q stays a constant (unrolled), so
        // the windows stay in registers.
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
          if (pc.window[q]) window[q] = _mm512_mask_loadu_ps(window[q], pc.window[q], row + 16 * q);
          if (pc.shifted[q]) shifted[q] = _mm512_mask_loadu_ps(shifted[q], pc.shifted[q], row + 4 + 16 * q);
        }
      }
      __m512 d[6];
      split_by_four(window, d);
      split_first_two(shifted, d + 4);
      input_1d(d, h[r]);
    }
    __m512 v[kPoints];
    input_columns(h, v);
    // All 16 lanes are stored: those past the group's tiles are zero (masked loads), the padding
    // the GEMM's last panel needs anyway.
    float* out = dst + tile / layout.panel_width * layout.panel_stride + tile % layout.panel_width;
    for (int xi = 0; xi < kPoints; ++xi) {
      _mm512_storeu_ps(out + xi * layout.xi_stride, v[xi]);
      sum = _mm512_add_ps(sum, v[xi]);
    }
    tile += lanes;
    npieces = 0;
  };
  for_each_group(runs, nruns, piece, done);
  return all_lanes_finite(sum);
}

void output_tiles_avx512(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* m,
                         std::int64_t xi_stride, float bias, const float* residual, bool relu, float* channel) {
  const std::int64_t next_plane = p.out_h * p.out_w;  // the next output channel's plane (store_output_pixels)
  const __m512 b = _mm512_set1_ps(bias);
  // Pending pieces of the current group: the 16 tiles' values are computed once all are known.
  struct Piece {
    int lane0, count;
    std::int64_t image, ty, tx;
  };
  Piece pieces[16];
  int npieces = 0;
  std::int64_t tile = 0;
  auto piece = [&](int lane0, const WinogradRun& run, std::int64_t tx, int count) {
    pieces[npieces++] = {lane0, count, run.image, run.ty, tx};
  };
  auto done = [&](int lanes) {
    const __mmask16 keep = lane_range(0, lanes);
    __m512 v[kPoints], t[4][6];
    for (int xi = 0; xi < kPoints; ++xi) v[xi] = _mm512_maskz_loadu_ps(keep, m + xi * xi_stride + tile);
    v[kBiasPoint] = _mm512_add_ps(v[kBiasPoint], b);
    output_columns(v, t);
    for (int r = 0; r < 4; ++r) {
      __m512 y[4], row[4];
      output_1d(t[r], y);
      join_by_four(y, row);  // position 4 l + c: column c of tile l
      for (int k = 0; k < npieces; ++k) {
        const Piece& pc = pieces[k];
        const std::int64_t oy = 4 * pc.ty + r;
        if (oy >= p.out_h) continue;
        // Position q of the 64 holds output column xbase + q; this piece owns positions 4 lane0 ..
        // 4 (lane0 + count) - 1 that fall inside the plane.
        const std::int64_t xbase = 4 * pc.tx - 4 * pc.lane0;
        const std::int64_t own_lo = 4 * pc.lane0,
                           own_hi = std::min<std::int64_t>(4 * (pc.lane0 + pc.count), p.out_w - xbase);
        const std::int64_t at = pc.image * p.out_image_stride + oy * p.out_w + xbase;
        for (int q = 0; q < 4; ++q) {
          const __mmask16 cols = lane_range(own_lo - 16 * q, own_hi - 16 * q);
          if (cols) store_output_pixels(row[q], cols, residual, at + 16 * q, relu, channel, next_plane);
        }
      }
    }
    tile += lanes;
    npieces = 0;
  };
  for_each_group(runs, nruns, piece, done);
}

// The mirror of output_tiles_avx512: a tile row's four output rows are read as 64 columns
// (pieces masked to their own positions and to the plane), split into the tiles' four columns,
// and A dy A^T stored as 36 vectors.
bool grad_output_tiles_avx512(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                              const float* channel, float* dst, std::int64_t xi_stride) {
  struct Piece {
    const float* plane;
    std::int64_t ty, xbase;
    __mmask16 window[4];  // positions 16 q .. 16 q + 15 of the window this piece owns inside the plane
  };
  Piece pieces[16];
  int npieces = 0;
  std::int64_t tile = 0;
  __m512 sum = _mm512_setzero_ps();
  auto piece = [&](int lane0, const WinogradRun& run, std::int64_t tx, int count) {
    // Position q of the 64-column window holds output column xbase + q.
    const std::int64_t xbase = 4 * tx - 4 * lane0;
    const std::int64_t lo = 4 * lane0, hi = std::min<std::int64_t>(4 * (lane0 + count), p.out_w - xbase);
    Piece& pc = pieces[npieces++];
    pc.plane = channel + run.image * p.out_image_stride;
    pc.ty = run.ty;
    pc.xbase = xbase;
    for (int q = 0; q < 4; ++q) pc.window[q] = lane_range(lo - 16 * q, hi - 16 * q);
    prefetch_next_plane_rows(pc.plane, p.out_h, p.out_w, 4 * run.ty, 4, xbase + lo, xbase + hi);
  };
  auto done = [&](int lanes) {
    __m512 h[4][6];  // h[r] = (dy A^T)[r] of the 16 tiles
    for (int r = 0; r < 4; ++r) {
      __m512 window[4];
      for (int q = 0; q < 4; ++q) window[q] = _mm512_setzero_ps();
      for (int k = 0; k < npieces; ++k) {
        const Piece& pc = pieces[k];
        const std::int64_t oy = 4 * pc.ty + r;
        if (oy >= p.out_h) continue;
        const float* row = pc.plane + oy * p.out_w + pc.xbase;
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
          if (pc.window[q]) window[q] = _mm512_mask_loadu_ps(window[q], pc.window[q], row + 16 * q);
        }
      }
      __m512 dy[4];
      split_by_four(window, dy);
      grad_1d(dy, h[r]);
    }
    __m512 z[kPoints];
    grad_columns(h, z);
    const __mmask16 keep = lane_range(0, lanes);
    for (int xi = 0; xi < kPoints; ++xi) {
      _mm512_mask_storeu_ps(dst + xi * xi_stride + tile, keep, z[xi]);
      sum = _mm512_add_ps(sum, z[xi]);
    }
    tile += lanes;
    npieces = 0;
  };
  for_each_group(runs, nruns, piece, done);
  return all_lanes_finite(sum);
}
#endif

}  // namespace

bool winograd4_weight_tiles(const float* weight, std::int64_t flipped_from, std::int64_t p0, std::int64_t p1,
                            std::int64_t pairs, std::int64_t point_stride, float* u) {
  const auto transform = [](const auto* g, auto* t) { weight_transform(g, t); };
  const WeightKernels kernels{weight, flipped_from, flipped_from ? pairs / flipped_from : 0};
#if defined(__AVX512F__)
  return weight_tiles_avx512<kPoints>(kernels, p0, p1, point_stride, u, transform);
#else
  return weight_tiles_scalar<kPoints>(kernels, p0, p1, point_stride, u, transform);
#endif
}

bool winograd4_input_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* channel,
                           float* dst, const WinogradVLayout& layout) {
#if defined(__AVX512F__)
  return input_tiles_avx512(runs, nruns, p, channel, dst, layout);
#else
  return input_tiles_scalar(runs, nruns, p, channel, dst, layout);
#endif
}

void winograd4_output_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* m,
                            std::int64_t xi_stride, float bias, const float* residual, bool relu, float* channel) {
#if defined(__AVX512F__)
  output_tiles_avx512(runs, nruns, p, m, xi_stride, bias, residual, relu, channel);
#else
  output_tiles_scalar(runs, nruns, p, m, xi_stride, bias, residual, relu, channel);
#endif
}

bool winograd4_grad_output_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                                 const float* channel, float* dst, std::int64_t xi_stride) {
#if defined(__AVX512F__)
  return grad_output_tiles_avx512(runs, nruns, p, channel, dst, xi_stride);
#else
  return grad_output_tiles_scalar(runs, nruns, p, channel, dst, xi_stride);
#endif
}

void winograd4_inverse_weight_tiles(const float* u, const float* second, std::int64_t p0, std::int64_t p1,
                                    std::int64_t pairs, float* weight) {
  const auto transform = [](const auto* t, auto* w) { inverse_weight_transform(t, w); };
#if defined(__AVX512F__)
  inverse_weight_tiles_avx512<kPoints>(u, second, p0, p1, pairs, weight, transform);
#else
  inverse_weight_tiles_scalar<kPoints>(u, second, p0, p1, pairs, weight, transform);
#endif
}

FLEXCONV_ISA_END
