// The inner loops of CPU grid_sample (cpu/grid_sample_kernels.h), compiled once per instruction
// set (core/isa.h). The AVX-512 copy takes 16 pixels per step, their taps in registers, and
// fetches each corner's values with one masked gather (the mask drops corners outside the
// plane, which then read 0 without touching memory); the tail is the same code with a shorter
// mask, so every pixel is computed the same way wherever it falls. The other copies are plain
// loops.
#include <cstdint>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/lanes.h"
#include "cpu/grid_sample_kernels.h"

FLEXCONV_ISA_BEGIN

#if defined(__AVX512F__)

namespace {

struct Corners {
  __m512i idx[4];
  __mmask16 inside[4];
};

// The corner indices of pixels [j, j + 16) (lanes beyond `active` off).
inline Corners load_corners(const GridTaps& t, std::int64_t j, __mmask16 active) {
  Corners c;
  for (int k = 0; k < 4; ++k) {
    c.idx[k] = _mm512_maskz_loadu_epi32(active, t.idx[k] + j);
    c.inside[k] = _mm512_mask_cmpge_epi32_mask(active, c.idx[k], _mm512_setzero_si512());
  }
  return c;
}

inline __m512 gather(const Corners& c, int k, const float* plane) {
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), c.inside[k], c.idx[k], plane, 4);
}

// Whether all four corners of all 16 lanes lie inside the plane (a grid inside the image:
// the common case), so that each pixel's ne corner is the float after its nw and se the float
// after sw, and the pairs can be fetched as one 64-bit element each.
inline bool all_inside(const Corners& c) {
  return (c.inside[0] & c.inside[1] & c.inside[2] & c.inside[3]) == static_cast<__mmask16>(0xFFFF);
}

// The pairs (plane[i], plane[i + 1]) of the 16 indices i at `idx`: half the gathered elements
// of two 32-bit gathers (gathers cost per element). *left gets plane[i], *right plane[i + 1].
inline void gather_pairs(const std::int32_t* idx, const float* plane, __m512* left, __m512* right) {
  const __m512i zero = _mm512_setzero_si512();
  const __m256i idx_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx));
  const __m256i idx_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(idx + 8));
  const __m512i lo = _mm512_mask_i32gather_epi64(zero, 0xFF, idx_lo, plane, 4);
  const __m512i hi = _mm512_mask_i32gather_epi64(zero, 0xFF, idx_hi, plane, 4);
  // Floats of lo are (l0, r0, l1, r1, ...) for lanes 0..7, of hi for lanes 8..15.
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  *left = _mm512_permutex2var_ps(_mm512_castsi512_ps(lo), even, _mm512_castsi512_ps(hi));
  *right = _mm512_permutex2var_ps(_mm512_castsi512_ps(lo), odd, _mm512_castsi512_ps(hi));
}

// The four corner values of the 16 lanes of pixels [j, j + 16) (0 for corners outside the
// plane).
inline void corner_values(const GridTaps& t, std::int64_t j, const Corners& c, const float* plane, __m512 v[4]) {
  if (all_inside(c)) {
    gather_pairs(t.idx[0] + j, plane, &v[0], &v[1]);
    gather_pairs(t.idx[2] + j, plane, &v[2], &v[3]);
    return;
  }
  for (int k = 0; k < 4; ++k) v[k] = gather(c, k, plane);
}

inline __mmask16 lanes(std::int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

}  // namespace

void grid_sample_plane(const GridTaps& t, std::int64_t count, const float* plane, float* dst) {
  for (std::int64_t j = 0; j < count; j += 16) {
    const __mmask16 active = lanes(count - j);
    const Corners c = load_corners(t, j, active);
    __m512 corner[4];
    corner_values(t, j, c, plane, corner);
    __m512 v = _mm512_setzero_ps();
    for (int k = 0; k < 4; ++k) v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(active, t.w[k] + j), corner[k], v);
    _mm512_mask_storeu_ps(dst + j, active, v);
  }
}

void grid_grad_sums(const GridTaps& t, std::int64_t count, const float* input, std::int64_t in_plane, const float* dy,
                    std::int64_t out_plane, std::int64_t channels, float* gx, float* gy) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (std::int64_t j = 0; j < count; j += 16) {
    const __mmask16 active = lanes(count - j);
    const Corners c = load_corners(t, j, active);
    const __m512 tx = _mm512_maskz_loadu_ps(active, t.tx + j), ty = _mm512_maskz_loadu_ps(active, t.ty + j);
    const __m512 sx = _mm512_sub_ps(one, tx), sy = _mm512_sub_ps(one, ty);
    __m512 ax = _mm512_maskz_loadu_ps(active, gx + j), ay = _mm512_maskz_loadu_ps(active, gy + j);
    for (std::int64_t ch = 0; ch < channels; ++ch) {
      const float* plane = input + ch * in_plane;
      __m512 corner[4];
      corner_values(t, j, c, plane, corner);
      const __m512 nw = corner[0], ne = corner[1], sw = corner[2], se = corner[3];
      const __m512 d = _mm512_maskz_loadu_ps(active, dy + ch * out_plane + j);
      const __m512 dx = _mm512_fmadd_ps(_mm512_sub_ps(se, sw), ty, _mm512_mul_ps(_mm512_sub_ps(ne, nw), sy));
      const __m512 dyv = _mm512_fmadd_ps(_mm512_sub_ps(se, ne), tx, _mm512_mul_ps(_mm512_sub_ps(sw, nw), sx));
      ax = _mm512_fmadd_ps(d, dx, ax);
      ay = _mm512_fmadd_ps(d, dyv, ay);
    }
    _mm512_mask_storeu_ps(gx + j, active, ax);
    _mm512_mask_storeu_ps(gy + j, active, ay);
  }
}

#else

void grid_sample_plane(const GridTaps& t, std::int64_t count, const float* plane, float* dst) {
  for (std::int64_t j = 0; j < count; ++j) {
    float v = 0.0f;
    for (int k = 0; k < 4; ++k)
      if (t.idx[k][j] >= 0) v += t.w[k][j] * plane[t.idx[k][j]];
    dst[j] = v;
  }
}

void grid_grad_sums(const GridTaps& t, std::int64_t count, const float* input, std::int64_t in_plane, const float* dy,
                    std::int64_t out_plane, std::int64_t channels, float* gx, float* gy) {
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    const float* plane = input + ch * in_plane;
    const float* d = dy + ch * out_plane;
    for (std::int64_t j = 0; j < count; ++j) {
      const auto corner = [&](int k) { return t.idx[k][j] >= 0 ? plane[t.idx[k][j]] : 0.0f; };
      const float nw = corner(0), ne = corner(1), sw = corner(2), se = corner(3);
      gx[j] += d[j] * ((ne - nw) * (1 - t.ty[j]) + (se - sw) * t.ty[j]);
      gy[j] += d[j] * ((sw - nw) * (1 - t.tx[j]) + (se - ne) * t.tx[j]);
    }
  }
}

#endif

// The channels-last kernels, one copy for every instruction set through core/lanes.h: the
// channels of a pixel are contiguous, so a corner's values (or its gradient) are whole vectors
// instead of one gathered (or scattered) element per channel.

void grid_sample_channels_last(const GridTaps& t, std::int64_t count, const float* x, std::int64_t channels,
                               float* out) {
  using lanes::F32;
  constexpr int W = F32::kWidth;
  for (std::int64_t j = 0; j < count; ++j) {
    const float* corner[4];
    float w[4];
    int inside = 0;
    for (int k = 0; k < 4; ++k) {
      if (t.idx[k][j] < 0) continue;
      corner[inside] = x + static_cast<std::int64_t>(t.idx[k][j]) * channels;
      w[inside++] = t.w[k][j];
    }
    float* o = out + j * channels;
    // Corners outside the plane are skipped: grid_sample_plane adds 0 * 0 for them, which leaves
    // a sum that started at +0 unchanged, so the bits are the same.
    const auto sample = [&](F32 acc, std::int64_t c, int n) {
      for (int k = 0; k < inside; ++k) {
        const F32 v = n == W ? F32::loadu(corner[k] + c) : F32::load_first(corner[k] + c, n);
        acc = lanes::fmadd(F32::splat(w[k]), v, acc);
      }
      return acc;
    };
    std::int64_t c = 0;
    for (; c + W <= channels; c += W) sample(F32::zero(), c, W).storeu(o + c);
    if (c < channels) {
      const int n = static_cast<int>(channels - c);
      sample(F32::zero(), c, n).store_first(o + c, n);
    }
  }
}

void grid_scatter_channels_last(const GridTaps& t, std::int64_t count, const float* dy, std::int64_t dy_stride,
                                std::int64_t width, float* g, std::int64_t g_stride) {
  using lanes::F32;
  constexpr int W = F32::kWidth;
  for (std::int64_t j = 0; j < count; ++j) {
    const float* d = dy + j * dy_stride;
    for (int k = 0; k < 4; ++k) {
      const std::int32_t i = t.idx[k][j];
      if (i < 0) continue;
      const F32 w = F32::splat(t.w[k][j]);
      float* row = g + static_cast<std::int64_t>(i) * g_stride;
      std::int64_t c = 0;
      for (; c + W <= width; c += W) lanes::add(F32::loadu(row + c), lanes::mul(w, F32::loadu(d + c))).storeu(row + c);
      if (c < width) {
        const int n = static_cast<int>(width - c);
        lanes::add(F32::load_first(row + c, n), lanes::mul(w, F32::load_first(d + c, n))).store_first(row + c, n);
      }
    }
  }
}

void grid_grad_sums_channels_last(const GridTaps& t, std::int64_t count, const float* x, const float* dy,
                                  std::int64_t channels, const float* zero_row, float* gx, float* gy) {
  using lanes::F32;
  constexpr int W = F32::kWidth;
  for (std::int64_t j = 0; j < count; ++j) {
    const float* corner[4];
    for (int k = 0; k < 4; ++k) {
      const std::int32_t i = t.idx[k][j];
      corner[k] = i >= 0 ? x + static_cast<std::int64_t>(i) * channels : zero_row;
    }
    const float* d = dy + j * channels;
    // Each channel's corner differences times its output gradient: along x the top (ne - nw) and
    // bottom (se - sw) rows, along y the left (sw - nw) and right (se - ne) columns.
    F32 top = F32::zero(), bottom = F32::zero(), left = F32::zero(), right = F32::zero();
    const auto add_channels = [&](F32 nw, F32 ne, F32 sw, F32 se, F32 dv) {
      top = lanes::fmadd(dv, lanes::sub(ne, nw), top);
      bottom = lanes::fmadd(dv, lanes::sub(se, sw), bottom);
      left = lanes::fmadd(dv, lanes::sub(sw, nw), left);
      right = lanes::fmadd(dv, lanes::sub(se, ne), right);
    };
    std::int64_t c = 0;
    for (; c + W <= channels; c += W) {
      add_channels(F32::loadu(corner[0] + c), F32::loadu(corner[1] + c), F32::loadu(corner[2] + c),
                   F32::loadu(corner[3] + c), F32::loadu(d + c));
    }
    if (c < channels) {
      const int n = static_cast<int>(channels - c);
      add_channels(F32::load_first(corner[0] + c, n), F32::load_first(corner[1] + c, n),
                   F32::load_first(corner[2] + c, n), F32::load_first(corner[3] + c, n), F32::load_first(d + c, n));
    }
    const float tx = t.tx[j], ty = t.ty[j];
    gx[j] = static_cast<float>(lanes::sum_in_double(top)) * (1 - ty) +
            static_cast<float>(lanes::sum_in_double(bottom)) * ty;
    gy[j] = static_cast<float>(lanes::sum_in_double(left)) * (1 - tx) +
            static_cast<float>(lanes::sum_in_double(right)) * tx;
  }
}

FLEXCONV_ISA_END
