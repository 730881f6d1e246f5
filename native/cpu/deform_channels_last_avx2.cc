// AVX2 + FMA kernels of cpu/deform_channels_last.h (also used on AVX-512 CPUs). Eight
// channels of one (tap, pixel) are one vector: 4 corner loads, 2 multiplies, 2 FMAs, 1 add.
// The forward packer samples 8 pixels x 8 channels, transposes the block in registers and
// stores 8 contiguous pixels per panel row. Channel tails use masked stores (loads may run
// into the padded buffer's slack: those lanes are never stored). Everything here has
// internal linkage (see CONTRIBUTING.md on ISA-specific files).
#include <immintrin.h>

#include <cstdint>

#include "cpu/deform_channels_last.h"

namespace flexconv {
namespace cpu {
namespace {

inline __m256i tail_mask(std::int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

struct Weights {
  __m256 w0, w1, w2, w3;
};

inline Weights weights_of(const PlanRow& plan, std::int64_t q) {
  return Weights{_mm256_broadcast_ss(plan.w01 + 2 * q), _mm256_broadcast_ss(plan.w01 + 2 * q + 1),
                 _mm256_broadcast_ss(plan.w23 + 2 * q), _mm256_broadcast_ss(plan.w23 + 2 * q + 1)};
}

// (w0*v00 + w2*v10) + (w1*v01 + w3*v11) for 8 channels at p.
inline __m256 sample8(const float* p, std::int64_t C, std::int64_t down, const Weights& w) {
  const __m256 a = _mm256_fmadd_ps(w.w2, _mm256_loadu_ps(p + down), _mm256_mul_ps(w.w0, _mm256_loadu_ps(p)));
  const __m256 b = _mm256_fmadd_ps(w.w3, _mm256_loadu_ps(p + down + C), _mm256_mul_ps(w.w1, _mm256_loadu_ps(p + C)));
  return _mm256_add_ps(a, b);
}

// In-register 8x8 transpose: v[j] lane i -> v[i] lane j.
inline void transpose8(__m256* v) {
  const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
  const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
  const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
  const __m256 t6 = _mm256_unpacklo_ps(v[6], v[7]), t7 = _mm256_unpackhi_ps(v[6], v[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  v[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  v[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  v[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  v[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  v[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  v[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  v[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  v[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

}  // namespace

void sample_tap_panels_avx2(const PaddedImage& img, std::int64_t c0, std::int64_t rows, const PlanRow& plan,
                            std::int64_t npix, int nr, std::int64_t panel_stride, float* dst) {
  const std::int64_t C = img.channels, down = img.padded_w * C;
  const std::int64_t width = (npix + nr - 1) / nr * nr;
  const float* base = img.data + c0;
  for (std::int64_t j0 = 0; j0 < width; j0 += 8) {
    float* out = dst + (j0 / nr) * panel_stride + j0 % nr;
    const std::int64_t valid = npix - j0 >= 8 ? 8 : (npix > j0 ? npix - j0 : 0);
    if (valid == 0) {
      for (std::int64_t r = 0; r < rows; ++r) _mm256_storeu_ps(out + r * nr, _mm256_setzero_ps());
      continue;
    }
    const float* px[8];
    for (std::int64_t j = 0; j < valid; ++j) px[j] = base + static_cast<std::int64_t>(plan.index[j0 + j]) * C;
    for (std::int64_t cb = 0; cb < rows; cb += 8) {
      __m256 v[8];
      for (std::int64_t j = 0; j < 8; ++j) {
        v[j] = j < valid ? sample8(px[j] + cb, C, down, weights_of(plan, j0 + j)) : _mm256_setzero_ps();
      }
      transpose8(v);
      const std::int64_t n = rows - cb < 8 ? rows - cb : 8;
      float* o = out + cb * nr;
      for (std::int64_t i = 0; i < n; ++i) _mm256_storeu_ps(o + i * nr, v[i]);
    }
  }
}

void sample_channel_rows_avx2(const PaddedImage& img, std::int64_t c0, std::int64_t count, const PlanRow& plan,
                              std::int64_t npix, float* out, std::int64_t out_stride) {
  const std::int64_t C = img.channels, down = img.padded_w * C;
  const std::int64_t full = count & ~std::int64_t(7);
  const __m256i tail = tail_mask(count - full);
  for (std::int64_t q = 0; q < npix; ++q) {
    const float* p = img.data + static_cast<std::int64_t>(plan.index[q]) * C + c0;
    const Weights w = weights_of(plan, q);
    float* o = out + q * out_stride;
    std::int64_t c = 0;
    for (; c < full; c += 8) _mm256_storeu_ps(o + c, sample8(p + c, C, down, w));
    if (c < count) _mm256_maskstore_ps(o + c, tail, sample8(p + c, C, down, w));
  }
}

void scatter_channel_rows_avx2(float* grad, std::int64_t channels, std::int64_t padded_w, std::int64_t c0,
                               std::int64_t count, const PlanRow& plan, std::int64_t npix, const float* g,
                               std::int64_t g_stride) {
  const std::int64_t C = channels, down = padded_w * C;
  const std::int64_t full = count & ~std::int64_t(7);
  const __m256i tail = tail_mask(count - full);
  for (std::int64_t q = 0; q < npix; ++q) {
    float* p0 = grad + static_cast<std::int64_t>(plan.index[q]) * C + c0;
    float* p1 = p0 + C;
    float* p2 = p0 + down;
    float* p3 = p2 + C;
    const Weights w = weights_of(plan, q);
    const float* gq = g + q * g_stride;
    std::int64_t c = 0;
    for (; c < full; c += 8) {
      const __m256 gv = _mm256_loadu_ps(gq + c);
      _mm256_storeu_ps(p0 + c, _mm256_fmadd_ps(w.w0, gv, _mm256_loadu_ps(p0 + c)));
      _mm256_storeu_ps(p1 + c, _mm256_fmadd_ps(w.w1, gv, _mm256_loadu_ps(p1 + c)));
      _mm256_storeu_ps(p2 + c, _mm256_fmadd_ps(w.w2, gv, _mm256_loadu_ps(p2 + c)));
      _mm256_storeu_ps(p3 + c, _mm256_fmadd_ps(w.w3, gv, _mm256_loadu_ps(p3 + c)));
    }
    if (c < count) {
      const __m256 gv = _mm256_maskload_ps(gq + c, tail);
      _mm256_maskstore_ps(p0 + c, tail, _mm256_fmadd_ps(w.w0, gv, _mm256_maskload_ps(p0 + c, tail)));
      _mm256_maskstore_ps(p1 + c, tail, _mm256_fmadd_ps(w.w1, gv, _mm256_maskload_ps(p1 + c, tail)));
      _mm256_maskstore_ps(p2 + c, tail, _mm256_fmadd_ps(w.w2, gv, _mm256_maskload_ps(p2 + c, tail)));
      _mm256_maskstore_ps(p3 + c, tail, _mm256_fmadd_ps(w.w3, gv, _mm256_maskload_ps(p3 + c, tail)));
    }
  }
}

namespace {

inline float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 h = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

}  // namespace

void corner_dots_avx2(const PaddedImage& img, std::int64_t c0, std::int64_t count, const std::int32_t* index,
                      std::int64_t npix, const float* g, std::int64_t g_stride, float* out) {
  const std::int64_t C = img.channels, down = img.padded_w * C;
  const std::int64_t full = count & ~std::int64_t(7);
  const __m256i tail = tail_mask(count - full);
  for (std::int64_t q = 0; q < npix; ++q) {
    const float* p0 = img.data + static_cast<std::int64_t>(index[q]) * C + c0;
    const float* p1 = p0 + C;
    const float* p2 = p0 + down;
    const float* p3 = p2 + C;
    const float* gq = g + q * g_stride;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    std::int64_t c = 0;
    for (; c < full; c += 8) {
      const __m256 gv = _mm256_loadu_ps(gq + c);
      a0 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(p0 + c), a0);
      a1 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(p1 + c), a1);
      a2 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(p2 + c), a2);
      a3 = _mm256_fmadd_ps(gv, _mm256_loadu_ps(p3 + c), a3);
    }
    if (c < count) {
      const __m256 gv = _mm256_maskload_ps(gq + c, tail);
      a0 = _mm256_fmadd_ps(gv, _mm256_maskload_ps(p0 + c, tail), a0);
      a1 = _mm256_fmadd_ps(gv, _mm256_maskload_ps(p1 + c, tail), a1);
      a2 = _mm256_fmadd_ps(gv, _mm256_maskload_ps(p2 + c, tail), a2);
      a3 = _mm256_fmadd_ps(gv, _mm256_maskload_ps(p3 + c, tail), a3);
    }
    float* o = out + 4 * q;
    o[0] += hsum(a0);
    o[1] += hsum(a1);
    o[2] += hsum(a2);
    o[3] += hsum(a3);
  }
}

// 8 x 8 blocks transposed in registers; the edges (channels or pixels past the last full
// block) are copied one float at a time.
void to_channels_last_avx2(const float* src, std::int64_t src_stride, std::int64_t channels, std::int64_t width, float* dst) {
  const std::int64_t C = channels, cf = C & ~std::int64_t(7), xf = width & ~std::int64_t(7);
  for (std::int64_t c0 = 0; c0 < cf; c0 += 8) {
    for (std::int64_t x0 = 0; x0 < xf; x0 += 8) {
      __m256 v[8];
      for (std::int64_t i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(src + (c0 + i) * src_stride + x0);
      transpose8(v);
      for (std::int64_t j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (x0 + j) * C + c0, v[j]);
    }
    for (std::int64_t c = c0; c < c0 + 8; ++c) {
      for (std::int64_t x = xf; x < width; ++x) dst[x * C + c] = src[c * src_stride + x];
    }
  }
  for (std::int64_t c = cf; c < C; ++c) {
    for (std::int64_t x = 0; x < width; ++x) dst[x * C + c] = src[c * src_stride + x];
  }
}

void from_channels_last_avx2(const float* src, std::int64_t channels, std::int64_t width, float* dst, std::int64_t dst_stride) {
  const std::int64_t C = channels, cf = C & ~std::int64_t(7), xf = width & ~std::int64_t(7);
  for (std::int64_t c0 = 0; c0 < cf; c0 += 8) {
    for (std::int64_t x0 = 0; x0 < xf; x0 += 8) {
      __m256 v[8];
      for (std::int64_t j = 0; j < 8; ++j) v[j] = _mm256_loadu_ps(src + (x0 + j) * C + c0);
      transpose8(v);
      for (std::int64_t i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (c0 + i) * dst_stride + x0, v[i]);
    }
    for (std::int64_t c = c0; c < c0 + 8; ++c) {
      for (std::int64_t x = xf; x < width; ++x) dst[c * dst_stride + x] = src[x * C + c];
    }
  }
  for (std::int64_t c = cf; c < C; ++c) {
    for (std::int64_t x = 0; x < width; ++x) dst[c * dst_stride + x] = src[x * C + c];
  }
}

}  // namespace cpu
}  // namespace flexconv
