// The input and output transforms of Winograd F(2x2, 3x3) (cpu/conv2d_winograd.h), compiled once
// per instruction set (core/isa.h).
//
// The AVX-512 copy works on 16 consecutive tiles of a chunk at a time, one per lane, whatever
// runs they come from (a 4x4 output map has runs of 2 tiles: 16 lanes then hold 8 runs). A
// patch row of the 16 tiles is gathered into a 34-column window by masked loads, one set per
// run: run k's tiles own window positions 2 l .. 2 l + 1 of their lanes l (columns 0 and 1 of the
// tile) in one window and, shifted by two columns, in a second (columns 2 and 3), so the runs
// never overlap and padding is simply masked off (it reads as zero without touching memory).
// One permutation per window then splits even and odd columns. The output side mirrors it:
// pairs of columns interleaved back and stored with one mask per run.
//
// The other copies are plain loops, tile by tile (winograd_has_fast_transforms() is false there:
// conv2d keeps the direct path on those CPUs).
#include <algorithm>
#include <cstdint>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/conv2d_winograd_kernels.h"
#include "cpu/conv2d_winograd_isa_shared.h"

FLEXCONV_ISA_BEGIN
namespace {

// V = B^T d B for one 4x4 patch d, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
void input_transform(const float d[4][4], float v[16]) {
  float t[4][4];
  for (int j = 0; j < 4; ++j) {
    t[0][j] = d[0][j] - d[2][j];
    t[1][j] = d[1][j] + d[2][j];
    t[2][j] = d[2][j] - d[1][j];
    t[3][j] = d[1][j] - d[3][j];
  }
  for (int i = 0; i < 4; ++i) {
    v[4 * i + 0] = t[i][0] - t[i][2];
    v[4 * i + 1] = t[i][1] + t[i][2];
    v[4 * i + 2] = t[i][2] - t[i][1];
    v[4 * i + 3] = t[i][1] - t[i][3];
  }
}

// U = G g G^T for one 3x3 kernel g (row-major), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]:
// U[4 a + b]. V is float, or a vector of floats (one kernel per lane: GCC's and Clang's vector
// arithmetic, a scalar operand applies to every lane).
template <class V>
void weight_transform(const V g[9], V u[16]) {
  V gg[4][3];  // G g (4 x 3)
  for (int j = 0; j < 3; ++j) {
    gg[0][j] = g[j];
    gg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
    gg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
    gg[3][j] = g[6 + j];
  }
  for (int a = 0; a < 4; ++a) {
    u[4 * a + 0] = gg[a][0];
    u[4 * a + 1] = 0.5f * (gg[a][0] + gg[a][1] + gg[a][2]);
    u[4 * a + 2] = 0.5f * (gg[a][0] - gg[a][1] + gg[a][2]);
    u[4 * a + 3] = gg[a][2];
  }
}

// dW = G^T u G for one channel pair (the adjoint of weight_transform): u[xi] (4 x 4, xi = 4 a +
// b) -> w[9] (3 x 3). V as in weight_transform.
template <class V>
void inverse_weight_transform(const V u[16], V w[9]) {
  V h[3][4];  // G^T u
  for (int b = 0; b < 4; ++b) {
    const V u0 = u[b], u1 = u[4 + b], u2 = u[8 + b], u3 = u[12 + b];
    h[0][b] = u0 + 0.5f * (u1 + u2);
    h[1][b] = 0.5f * (u1 - u2);
    h[2][b] = 0.5f * (u1 + u2) + u3;
  }
  for (int i = 0; i < 3; ++i) {
    w[3 * i + 0] = h[i][0] + 0.5f * (h[i][1] + h[i][2]);
    w[3 * i + 1] = 0.5f * (h[i][1] - h[i][2]);
    w[3 * i + 2] = 0.5f * (h[i][1] + h[i][2]) + h[i][3];
  }
}

// Y = A^T m A for one tile, A^T = [1 1 1 0; 0 1 -1 -1].
void output_transform(const float m[16], float y[2][2]) {
  float a[4], b[4];
  for (int j = 0; j < 4; ++j) {
    a[j] = m[j] + m[4 + j] + m[8 + j];
    b[j] = m[4 + j] - m[8 + j] - m[12 + j];
  }
  y[0][0] = a[0] + a[1] + a[2];
  y[0][1] = a[1] - a[2] - a[3];
  y[1][0] = b[0] + b[1] + b[2];
  y[1][1] = b[1] - b[2] - b[3];
}

[[maybe_unused]] bool input_tiles_scalar(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                                         const float* channel, float* dst, const WinogradVLayout& layout) {
  return input_tiles_plain<2, 16>(runs, nruns, p, channel, dst, layout, [](const float* d, float* v) {
    const float patch[4][4] = {
        {d[0], d[1], d[2], d[3]}, {d[4], d[5], d[6], d[7]}, {d[8], d[9], d[10], d[11]}, {d[12], d[13], d[14], d[15]}};
    input_transform(patch, v);
  });
}

[[maybe_unused]] void output_tiles_scalar(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                                          const float* m, std::int64_t xi_stride, float bias, const float* residual,
                                          bool relu, float* channel) {
  output_tiles_plain<2, 16>(runs, nruns, p, m, xi_stride, bias, residual, relu, channel,
                            [](const float* v, float b, float* y) {
                              float block[2][2];
                              output_transform(v, block);
                              for (int i = 0; i < 4; ++i) y[i] = block[i / 2][i % 2] + b;
                            });
}

// Z = A dy A^T for one tile's 2x2 block dy, A = [1 0; 1 1; 1 -1; 0 -1] (A^T of output_transform).
void grad_output_transform(const float dy[2][2], float z[16]) {
  float r[4][2];  // A dy
  for (int j = 0; j < 2; ++j) {
    r[0][j] = dy[0][j];
    r[1][j] = dy[0][j] + dy[1][j];
    r[2][j] = dy[0][j] - dy[1][j];
    r[3][j] = -dy[1][j];
  }
  for (int i = 0; i < 4; ++i) {
    z[4 * i + 0] = r[i][0];
    z[4 * i + 1] = r[i][0] + r[i][1];
    z[4 * i + 2] = r[i][0] - r[i][1];
    z[4 * i + 3] = -r[i][1];
  }
}

[[maybe_unused]] bool grad_output_tiles_scalar(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                                               const float* channel, float* dst, std::int64_t xi_stride) {
  return grad_output_tiles_plain<2, 16>(runs, nruns, p, channel, dst, xi_stride, [](const float* d, float* z) {
    const float block[2][2] = {{d[0], d[1]}, {d[2], d[3]}};
    grad_output_transform(block, z);
  });
}

#if defined(__AVX512F__)
bool input_tiles_avx512(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* channel,
                        float* dst, const WinogradVLayout& layout) {
  // Groups of 16 tiles start at multiples of 16, so with panels a multiple of 16 wide a group's
  // 16 lanes lie in one panel.
  if (layout.panel_width % 16 != 0) return input_tiles_scalar(runs, nruns, p, channel, dst, layout);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  // w[r][0..1]: patch row r, window of columns 0/1 of the tiles (positions 0..31); w[r][2..3]:
  // the window two columns on (columns 2/3).
  __m512 w[4][4];
  auto clear = [&] {
    for (auto& row : w)
      for (auto& part : row) part = _mm512_setzero_ps();
  };
  clear();
  std::int64_t tile = 0;
  // The sum of every V written: non-finite iff some input was (or the sum overflowed).
  __m512 sum = _mm512_setzero_ps();
  auto piece = [&](int lane0, const WinogradRun& run, std::int64_t tx, int count) {
    // Window position q of this piece holds input column xbase + q (+ 2 in the shifted window).
    const std::int64_t xbase = 2 * tx - p.pad_w - 2 * lane0;
    const std::int64_t own_lo = 2 * lane0, own_hi = 2 * (lane0 + count);
    const std::int64_t lo0 = std::max(own_lo, -xbase), hi0 = std::min(own_hi, p.in_w - xbase);
    const std::int64_t lo2 = std::max(own_lo, -(xbase + 2)), hi2 = std::min(own_hi, p.in_w - (xbase + 2));
    const __mmask16 m0 = lane_range(lo0, hi0), m1 = lane_range(lo0 - 16, hi0 - 16);
    const __mmask16 m2 = lane_range(lo2, hi2), m3 = lane_range(lo2 - 16, hi2 - 16);
    const float* plane = channel + run.image * p.in_image_stride;
    const std::int64_t iy0 = 2 * run.ty - p.pad_h;
    for (int r = 0; r < 4; ++r) {
      const std::int64_t iy = iy0 + r;
      if (iy < 0 || iy >= p.in_h) continue;
      const float* row = plane + iy * p.in_w + xbase;
      // A piece of up to 8 tiles owns columns in one half of the window or straddles the two:
      // the empty half's masked loads are skipped (they cost a load slot all the same).
      if (m0) w[r][0] = _mm512_mask_loadu_ps(w[r][0], m0, row);
      if (m1) w[r][1] = _mm512_mask_loadu_ps(w[r][1], m1, row + 16);
      if (m2) w[r][2] = _mm512_mask_loadu_ps(w[r][2], m2, row + 2);
      if (m3) w[r][3] = _mm512_mask_loadu_ps(w[r][3], m3, row + 18);
    }
    // The next tile row's two new patch rows, fetched while this one is computed (the planes
    // are read once, from memory).
    for (std::int64_t iy = std::max<std::int64_t>(iy0 + 4, 0); iy < std::min(iy0 + 6, p.in_h); ++iy) {
      const float* next = plane + iy * p.in_w + std::max<std::int64_t>(xbase + own_lo, 0);
      _mm_prefetch(reinterpret_cast<const char*>(next), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(next + 16), _MM_HINT_T0);
    }
    // And this piece's four patch rows in the next channel's plane.
    prefetch_next_plane_rows(plane, p.in_h, p.in_w, iy0, 4, xbase + own_lo, std::min(xbase + own_hi + 2, p.in_w));
  };
  auto done = [&](int lanes) {
    __m512 c[4][4];  // c[r][j]: column j of the tiles' patch row r
    for (int r = 0; r < 4; ++r) {
      c[r][0] = _mm512_permutex2var_ps(w[r][0], even, w[r][1]);
      c[r][1] = _mm512_permutex2var_ps(w[r][0], odd, w[r][1]);
      c[r][2] = _mm512_permutex2var_ps(w[r][2], even, w[r][3]);
      c[r][3] = _mm512_permutex2var_ps(w[r][2], odd, w[r][3]);
    }
    float* out = dst + tile / layout.panel_width * layout.panel_stride + tile % layout.panel_width;
    // Rows of B^T d: d0 - d2, d1 + d2, d2 - d1, d1 - d3; then the same of each row's columns.
    // All 16 lanes are stored: those past the group's tiles are zero (masked loads), the padding
    // the GEMM's last panel needs anyway.
    auto store = [&](int xi, __m512 value) {
      _mm512_storeu_ps(out + xi * layout.xi_stride, value);
      sum = _mm512_add_ps(sum, value);
    };
    for (int i = 0; i < 4; ++i) {
      __m512 t[4];
      for (int j = 0; j < 4; ++j) {
        t[j] = i == 0   ? _mm512_sub_ps(c[0][j], c[2][j])
               : i == 1 ? _mm512_add_ps(c[1][j], c[2][j])
               : i == 2 ? _mm512_sub_ps(c[2][j], c[1][j])
                        : _mm512_sub_ps(c[1][j], c[3][j]);
      }
      store(4 * i + 0, _mm512_sub_ps(t[0], t[2]));
      store(4 * i + 1, _mm512_add_ps(t[1], t[2]));
      store(4 * i + 2, _mm512_sub_ps(t[2], t[1]));
      store(4 * i + 3, _mm512_sub_ps(t[1], t[3]));
    }
    tile += lanes;
    clear();
  };
  for_each_group(runs, nruns, piece, done);
  // Lanes past a group's tiles are zero (masked loads), so they add nothing.
  return all_lanes_finite(sum);
}

void output_tiles_avx512(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* m,
                         std::int64_t xi_stride, float bias, const float* residual, bool relu, float* channel) {
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
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
    __m512 v[16];
    for (int xi = 0; xi < 16; ++xi) v[xi] = _mm512_maskz_loadu_ps(keep, m + xi * xi_stride + tile);
    // A^T m: rows m0 + m1 + m2 and m1 - m2 - m3; then the same of each row's columns.
    __m512 y[2][2];  // y[r][32 columns as two vectors]: output row r, columns 2 l, 2 l + 1 interleaved
    for (int r = 0; r < 2; ++r) {
      __m512 a[4];
      for (int j = 0; j < 4; ++j) {
        a[j] = r == 0 ? _mm512_add_ps(_mm512_add_ps(v[j], v[4 + j]), v[8 + j])
                      : _mm512_sub_ps(_mm512_sub_ps(v[4 + j], v[8 + j]), v[12 + j]);
      }
      const __m512 col0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a[0], a[1]), a[2]), b);
      const __m512 col1 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(a[1], a[2]), a[3]), b);
      y[r][0] = _mm512_permutex2var_ps(col0, lo, col1);
      y[r][1] = _mm512_permutex2var_ps(col0, hi, col1);
    }
    for (int k = 0; k < npieces; ++k) {
      const Piece& pc = pieces[k];
      // Position q of the interleaved 32 holds output column xbase + q; this piece owns positions
      // 2 lane0 .. 2 (lane0 + count) - 1 that fall inside the plane.
      const std::int64_t xbase = 2 * pc.tx - 2 * pc.lane0;
      const std::int64_t own_lo = 2 * pc.lane0,
                         own_hi = std::min<std::int64_t>(2 * (pc.lane0 + pc.count), p.out_w - xbase);
      for (int r = 0; r < 2; ++r) {
        const std::int64_t oy = 2 * pc.ty + r;
        if (oy >= p.out_h) break;
        const std::int64_t at = pc.image * p.out_image_stride + oy * p.out_w + xbase;
        for (int half = 0; half < 2; ++half) {
          const __mmask16 cols = lane_range(own_lo - 16 * half, own_hi - 16 * half);
          if (cols) store_output_pixels(y[r][half], cols, residual, at + 16 * half, relu, channel, next_plane);
        }
      }
    }
    tile += lanes;
    npieces = 0;
  };
  for_each_group(runs, nruns, piece, done);
}

// The mirror of output_tiles_avx512: a tile row's two output rows are read as 32 interleaved
// columns (pieces masked to their own positions and to the plane), split into even and odd
// columns (dy[r][0], dy[r][1] of the 16 tiles), and A dy A^T stored as 16 vectors.
bool grad_output_tiles_avx512(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                              const float* channel, float* dst, std::int64_t xi_stride) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  struct Piece {
    const float* plane;
    std::int64_t ty, xbase;
    __mmask16 m[2];  // lanes of the window's lower and upper 16 positions inside the plane
  };
  Piece pieces[16];
  int npieces = 0;
  std::int64_t tile = 0;
  __m512 sum = _mm512_setzero_ps();
  auto piece = [&](int lane0, const WinogradRun& run, std::int64_t tx, int count) {
    // Position q of the 32-column window holds output column xbase + q; this piece owns positions
    // 2 lane0 .. 2 (lane0 + count) - 1 that fall inside the plane.
    const std::int64_t xbase = 2 * tx - 2 * lane0;
    const std::int64_t lo = 2 * lane0, hi = std::min<std::int64_t>(2 * (lane0 + count), p.out_w - xbase);
    pieces[npieces++] = {
        channel + run.image * p.out_image_stride, run.ty, xbase, {lane_range(lo, hi), lane_range(lo - 16, hi - 16)}};
    prefetch_next_plane_rows(pieces[npieces - 1].plane, p.out_h, p.out_w, 2 * run.ty, 2, xbase + lo, xbase + hi);
  };
  auto done = [&](int lanes) {
    __m512 dy[2][2];  // dy[r][j]: row r, column j of the tiles' 2x2 blocks
    for (int r = 0; r < 2; ++r) {
      __m512 lower = _mm512_setzero_ps(), upper = lower;
      for (int k = 0; k < npieces; ++k) {
        const Piece& pc = pieces[k];
        const std::int64_t oy = 2 * pc.ty + r;
        if (oy >= p.out_h) continue;
        const float* row = pc.plane + oy * p.out_w + pc.xbase;
        if (pc.m[0]) lower = _mm512_mask_loadu_ps(lower, pc.m[0], row);
        if (pc.m[1]) upper = _mm512_mask_loadu_ps(upper, pc.m[1], row + 16);
      }
      dy[r][0] = _mm512_permutex2var_ps(lower, even, upper);
      dy[r][1] = _mm512_permutex2var_ps(lower, odd, upper);
    }
    const __mmask16 keep = lane_range(0, lanes);
    float* out = dst + tile;
    for (int i = 0; i < 4; ++i) {
      __m512 a[2];  // row i of A dy
      for (int j = 0; j < 2; ++j) {
        a[j] = i == 0   ? dy[0][j]
               : i == 1 ? _mm512_add_ps(dy[0][j], dy[1][j])
               : i == 2 ? _mm512_sub_ps(dy[0][j], dy[1][j])
                        : _mm512_sub_ps(_mm512_setzero_ps(), dy[1][j]);
      }
      const __m512 z[4] = {a[0], _mm512_add_ps(a[0], a[1]), _mm512_sub_ps(a[0], a[1]),
                           _mm512_sub_ps(_mm512_setzero_ps(), a[1])};
      for (int j = 0; j < 4; ++j) {
        _mm512_mask_storeu_ps(out + (4 * i + j) * xi_stride, keep, z[j]);
        sum = _mm512_add_ps(sum, z[j]);
      }
    }
    tile += lanes;
    npieces = 0;
  };
  for_each_group(runs, nruns, piece, done);
  return all_lanes_finite(sum);
}
#endif

}  // namespace

bool winograd_weight_tiles(const float* weight, std::int64_t flipped_from, std::int64_t p0, std::int64_t p1,
                           std::int64_t pairs, std::int64_t point_stride, float* u) {
  const auto transform = [](const auto* g, auto* t) { weight_transform(g, t); };
  const WeightKernels kernels{weight, flipped_from, flipped_from ? pairs / flipped_from : 0};
#if defined(__AVX512F__)
  return weight_tiles_avx512<16>(kernels, p0, p1, point_stride, u, transform);
#else
  return weight_tiles_scalar<16>(kernels, p0, p1, point_stride, u, transform);
#endif
}

void winograd_inverse_weight_tiles(const float* u, const float* second, std::int64_t p0, std::int64_t p1,
                                   std::int64_t pairs, float* weight) {
  const auto transform = [](const auto* t, auto* w) { inverse_weight_transform(t, w); };
#if defined(__AVX512F__)
  inverse_weight_tiles_avx512<16>(u, second, p0, p1, pairs, weight, transform);
#else
  inverse_weight_tiles_scalar<16>(u, second, p0, p1, pairs, weight, transform);
#endif
}

bool winograd_has_fast_transforms() {
#if defined(__AVX512F__)
  return true;
#else
  return false;
#endif
}

bool winograd_input_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* channel,
                          float* dst, const WinogradVLayout& layout) {
#if defined(__AVX512F__)
  return input_tiles_avx512(runs, nruns, p, channel, dst, layout);
#else
  return input_tiles_scalar(runs, nruns, p, channel, dst, layout);
#endif
}

bool winograd_grad_output_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p,
                                const float* channel, float* dst, std::int64_t xi_stride) {
#if defined(__AVX512F__)
  return grad_output_tiles_avx512(runs, nruns, p, channel, dst, xi_stride);
#else
  return grad_output_tiles_scalar(runs, nruns, p, channel, dst, xi_stride);
#endif
}

void winograd_output_tiles(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* m,
                           std::int64_t xi_stride, float bias, const float* residual, bool relu, float* channel) {
#if defined(__AVX512F__)
  output_tiles_avx512(runs, nruns, p, m, xi_stride, bias, residual, relu, channel);
#else
  output_tiles_scalar(runs, nruns, p, m, xi_stride, bias, residual, relu, channel);
#endif
}

FLEXCONV_ISA_END
