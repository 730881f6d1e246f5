// The inner loops of cpu/deform_channels_last.h, compiled once per instruction set (core/isa.h).
// The scalar loops are every copy's reference and tails; the AVX2 + FMA loops (also the AVX-512
// copy's) take eight channels of one (tap, pixel) as one vector: 4 corner loads, 2 multiplies,
// 2 FMAs, 1 add. The forward packer samples 8 pixels x 8 channels, transposes the block in
// registers and stores 8 contiguous pixels per panel row. The AVX-512 copy samples, packs and
// scatters 16 channels (16 x 16 blocks in the packer) where there are that many: on cores with
// full-width 512-bit units (Zen 5) that is half the instructions, and the forward 0.92-0.98x
// the time, forward + backward 0.90-0.98x (BENCHMARKS.md, 2026-12-07 17:20); each lane's
// arithmetic is the same, so the same bits. (The offset gradient's dot products stayed eight
// wide: they are bound by their loads, 16 wide measured no faster.) Channel tails use masked
// stores (loads may run into the padded buffer's slack: those lanes are never stored).
#include <cstdint>

#include "cpu/deform_channels_last.h"
#include "math/bilinear.h"
#if defined(__AVX2__)
#include <immintrin.h>

#include "cpu/transpose8_avx2.h"
#endif
#if defined(__AVX512F__)
#include "cpu/transpose16_avx512.h"
// GCC 12 reports the deliberately undefined source operand inside the shuffle intrinsics
// (_mm512_undefined_ps) as maybe-uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

FLEXCONV_ISA_BEGIN
namespace {

inline float sample_at(const float* p, std::int64_t C, std::int64_t down, const PlanRow& plan, std::int64_t q) {
  const float* a = plan.w01 + 2 * q;
  const float* b = plan.w23 + 2 * q;
  return (a[0] * p[0] + b[0] * p[down]) + (a[1] * p[C] + b[1] * p[down + C]);
}

void plan_run_scalar(const PlanRun& r, std::int32_t* index, float* w01, float* w23) {
  for (std::int64_t q = 0; q < r.n; ++q) {
    const float y = r.y0 + r.dy[q];
    const float x = static_cast<float>(r.x0 + q * r.x_step) + r.dx[q];
    const math::BilinearPaddedPlan pl = math::bilinear_padded_plan(y, x, r.mask ? r.mask[q] : 1.0f, r.in_h, r.in_w);
    index[q] = pl.index + r.index_offset;
    w01[2 * q] = pl.weight[0];
    w01[2 * q + 1] = pl.weight[1];
    w23[2 * q] = pl.weight[2];
    w23[2 * q + 1] = pl.weight[3];
  }
}

void point_run_scalar(const PlanRun& r, const PointRun& out) {
  for (std::int64_t q = 0; q < r.n; ++q) {
    const float y = r.y0 + r.dy[q];
    const float x = static_cast<float>(r.x0 + q * r.x_step) + r.dx[q];
    const math::BilinearPaddedPoint pt = math::bilinear_padded_point(y, x, r.in_h, r.in_w);
    out.index[q] = pt.index + r.index_offset;
    out.ly[q] = pt.ly;
    out.lx[q] = pt.lx;
    out.valid[q] = pt.valid ? 1.0f : 0.0f;
    out.grad_valid[q] = pt.grad_valid ? 1.0f : 0.0f;
  }
}

void sample_tap_panels_scalar(const PaddedImage& img, std::int64_t c0, std::int64_t rows, const PlanRow& plan,
                              std::int64_t npix, int nr, std::int64_t panel_stride, float* dst) {
  const std::int64_t C = img.channels, down = img.padded_w * C;
  const std::int64_t width = (npix + nr - 1) / nr * nr;
  for (std::int64_t j = 0; j < width; ++j) {
    float* out = dst + (j / nr) * panel_stride + j % nr;
    if (j >= npix) {
      for (std::int64_t r = 0; r < rows; ++r) out[r * nr] = 0.0f;
      continue;
    }
    const float* p = img.data + static_cast<std::int64_t>(plan.index[j]) * C + c0;
    for (std::int64_t r = 0; r < rows; ++r) out[r * nr] = sample_at(p + r, C, down, plan, j);
  }
}

}  // namespace

#if defined(__AVX2__)

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

#if defined(__AVX512F__)
// Sixteen channels at a time (the AVX-512 copy; on cores with full-width AVX-512 units, half the
// instructions of two eight-channel vectors). The same arithmetic per lane as sample8, so the
// same bits.
struct Weights16 {
  __m512 w0, w1, w2, w3;
};

inline Weights16 weights16_of(const PlanRow& plan, std::int64_t q) {
  return Weights16{_mm512_set1_ps(plan.w01[2 * q]), _mm512_set1_ps(plan.w01[2 * q + 1]),
                   _mm512_set1_ps(plan.w23[2 * q]), _mm512_set1_ps(plan.w23[2 * q + 1])};
}

inline __m512 sample16(const float* p, std::int64_t C, std::int64_t down, const Weights16& w) {
  const __m512 a = _mm512_fmadd_ps(w.w2, _mm512_loadu_ps(p + down), _mm512_mul_ps(w.w0, _mm512_loadu_ps(p)));
  const __m512 b = _mm512_fmadd_ps(w.w3, _mm512_loadu_ps(p + down + C), _mm512_mul_ps(w.w1, _mm512_loadu_ps(p + C)));
  return _mm512_add_ps(a, b);
}

#endif

// The vector blocks of sample_tap_panels: kWidth channels of one pixel per vector, kWidth x kWidth
// blocks transposed in registers.
struct Block8 : TransposeBlock8 {
  static Weights weights(const PlanRow& plan, std::int64_t q) { return weights_of(plan, q); }
  static Vec sample(const float* p, std::int64_t C, std::int64_t down, const Weights& w) {
    return sample8(p, C, down, w);
  }
};
#if defined(__AVX512F__)
struct Block16 : TransposeBlock16 {
  static Weights16 weights(const PlanRow& plan, std::int64_t q) { return weights16_of(plan, q); }
  static Vec sample(const float* p, std::int64_t C, std::int64_t down, const Weights16& w) {
    return sample16(p, C, down, w);
  }
};
#endif

// sample_tap_panels for panels a multiple of Block::kWidth pixels wide. Two passes per kWidth
// pixels: each pixel's weights are broadcast once and its channels sampled into a small
// pixel-major buffer; then kWidth x kWidth blocks of it are transposed into the panels (with 16,
// each panel row piece a whole 64-byte line). Reads up to kWidth - 1 floats past the last pixel
// (kPaddedSlack); those lanes are never stored.
template <class Block>
void sample_tap_panels_blocked(const PaddedImage& img, std::int64_t c0, std::int64_t rows, const PlanRow& plan,
                               std::int64_t npix, int nr, std::int64_t panel_stride, float* dst) {
  constexpr std::int64_t kW = Block::kWidth, kRows = 256;
  alignas(64) float buf[kW * kRows];
  const std::int64_t C = img.channels, down = img.padded_w * C;
  const std::int64_t width = (npix + nr - 1) / nr * nr;
  for (std::int64_t r0 = 0; r0 < rows; r0 += kRows) {
    const std::int64_t nrows = rows - r0 < kRows ? rows - r0 : kRows;
    const float* base = img.data + c0 + r0;
    for (std::int64_t j0 = 0; j0 < width; j0 += kW) {
      float* out = dst + (j0 / nr) * panel_stride + j0 % nr + r0 * nr;
      const std::int64_t valid = npix - j0 >= kW ? kW : (npix > j0 ? npix - j0 : 0);
      if (valid == 0) {
        for (std::int64_t r = 0; r < nrows; ++r) Block::storeu(out + r * nr, Block::zero());
        continue;
      }
      for (std::int64_t j = 0; j < valid; ++j) {
        const float* p = base + static_cast<std::int64_t>(plan.index[j0 + j]) * C;
        const auto w = Block::weights(plan, j0 + j);
        float* b = buf + j * kRows;
        for (std::int64_t cb = 0; cb < nrows; cb += kW) Block::store(b + cb, Block::sample(p + cb, C, down, w));
      }
      for (std::int64_t cb = 0; cb < nrows; cb += kW) {
        typename Block::Vec v[kW];
        for (std::int64_t j = 0; j < kW; ++j) v[j] = j < valid ? Block::load(buf + j * kRows + cb) : Block::zero();
        Block::transpose(v);
        const std::int64_t n = nrows - cb < kW ? nrows - cb : kW;
        float* o = out + cb * nr;
        for (std::int64_t i = 0; i < n; ++i) Block::storeu(o + i * nr, v[i]);
      }
    }
  }
}

}  // namespace

namespace {

// 8 points of a PlanRun at a time, the same arithmetic as math/bilinear.h's
// bilinear_padded_point (ordered comparisons, so NaN lands outside).
class Points8 {
 public:
  explicit Points8(const PlanRun& r)
      : r_(r),
        minus1_(_mm256_set1_ps(-1.0f)),
        hf_(_mm256_set1_ps(static_cast<float>(r.in_h))),
        wf_(_mm256_set1_ps(static_cast<float>(r.in_w))),
        y0_(_mm256_set1_ps(r.y0)),
        wp_(_mm256_set1_epi32(static_cast<int>(r.in_w + 2))),
        base_(_mm256_set1_epi32(static_cast<int>(r.in_w + 2 + 1) + r.index_offset)),
        outside_(_mm256_set1_epi32(math::padded_outside_index(r.in_h, r.in_w) + r.index_offset)),
        steps_(_mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                  _mm256_set1_epi32(static_cast<int>(r.x_step)))) {}

  // Points q .. q+7: masks of the value region and of the derivative region (all ones or zero
  // per lane), the padded index of the top-left corner (meaningful inside the derivative
  // region only: callers blend in outside_index()), and the fractional parts.
  struct Lanes {
    __m256 inside, grad_inside;
    __m256i index;
    __m256 ly, lx;
  };
  Lanes at(std::int64_t q) const {
    const __m256 y = _mm256_add_ps(y0_, _mm256_loadu_ps(r_.dy + q));
    const __m256i xi = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(r_.x0 + q * r_.x_step)), steps_);
    const __m256 x = _mm256_add_ps(_mm256_cvtepi32_ps(xi), _mm256_loadu_ps(r_.dx + q));
    const __m256 below_h = _mm256_cmp_ps(y, hf_, _CMP_LT_OQ), below_w = _mm256_cmp_ps(x, wf_, _CMP_LT_OQ);
    Lanes p;
    p.inside = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(y, minus1_, _CMP_GT_OQ), below_h),
                             _mm256_and_ps(_mm256_cmp_ps(x, minus1_, _CMP_GT_OQ), below_w));
    p.grad_inside = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(y, minus1_, _CMP_GE_OQ), below_h),
                                  _mm256_and_ps(_mm256_cmp_ps(x, minus1_, _CMP_GE_OQ), below_w));
    const __m256 fy = _mm256_floor_ps(y), fx = _mm256_floor_ps(x);
    p.index = _mm256_add_epi32(
        _mm256_add_epi32(_mm256_mullo_epi32(_mm256_cvttps_epi32(fy), wp_), _mm256_cvttps_epi32(fx)), base_);
    p.ly = _mm256_sub_ps(y, fy);
    p.lx = _mm256_sub_ps(x, fx);
    return p;
  }

  // index where `keep` is set, the zero block's index elsewhere.
  __m256i select_index(__m256i index, __m256 keep) const {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(outside_), _mm256_castsi256_ps(index), keep));
  }

  // The run from point q on (for the scalar tail).
  PlanRun tail(std::int64_t q) const {
    return PlanRun{r_.y0,     r_.x0 + q * r_.x_step,
                   r_.x_step, r_.dy + q,
                   r_.dx + q, r_.mask ? r_.mask + q : nullptr,
                   r_.n - q,  r_.in_h,
                   r_.in_w,   r_.index_offset};
  }

 private:
  const PlanRun& r_;
  __m256 minus1_, hf_, wf_, y0_;
  __m256i wp_, base_, outside_, steps_;
};

}  // namespace

// Points outside the value region get the zero block's index and weights 0 * mask; the last
// points through the scalar formula.
void plan_run(const PlanRun& r, std::int32_t* index, float* w01, float* w23) {
  const Points8 pts(r);
  const __m256 one = _mm256_set1_ps(1.0f);
  std::int64_t q = 0;
  for (; q + 8 <= r.n; q += 8) {
    const Points8::Lanes p = pts.at(q);
    const __m256 inside = p.inside, ly = p.ly, lx = p.lx;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(index + q), pts.select_index(p.index, inside));
    const __m256 m = r.mask ? _mm256_loadu_ps(r.mask + q) : one;
    const __m256 hy = _mm256_sub_ps(one, ly), hx = _mm256_sub_ps(one, lx);
    const __m256 w0 = _mm256_mul_ps(_mm256_and_ps(_mm256_mul_ps(hy, hx), inside), m);
    const __m256 w1 = _mm256_mul_ps(_mm256_and_ps(_mm256_mul_ps(hy, lx), inside), m);
    const __m256 w2 = _mm256_mul_ps(_mm256_and_ps(_mm256_mul_ps(ly, hx), inside), m);
    const __m256 w3 = _mm256_mul_ps(_mm256_and_ps(_mm256_mul_ps(ly, lx), inside), m);
    // Interleave into (w0, w1) and (w2, w3) pairs per point.
    const __m256 a_lo = _mm256_unpacklo_ps(w0, w1), a_hi = _mm256_unpackhi_ps(w0, w1);
    const __m256 b_lo = _mm256_unpacklo_ps(w2, w3), b_hi = _mm256_unpackhi_ps(w2, w3);
    _mm256_storeu_ps(w01 + 2 * q, _mm256_permute2f128_ps(a_lo, a_hi, 0x20));
    _mm256_storeu_ps(w01 + 2 * q + 8, _mm256_permute2f128_ps(a_lo, a_hi, 0x31));
    _mm256_storeu_ps(w23 + 2 * q, _mm256_permute2f128_ps(b_lo, b_hi, 0x20));
    _mm256_storeu_ps(w23 + 2 * q + 8, _mm256_permute2f128_ps(b_lo, b_hi, 0x31));
  }
  if (q < r.n) plan_run_scalar(pts.tail(q), index + q, w01 + 2 * q, w23 + 2 * q);
}

void point_run(const PlanRun& r, const PointRun& out) {
  const Points8 pts(r);
  const __m256 one = _mm256_set1_ps(1.0f);
  std::int64_t q = 0;
  for (; q + 8 <= r.n; q += 8) {
    const Points8::Lanes p = pts.at(q);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.index + q), pts.select_index(p.index, p.grad_inside));
    _mm256_storeu_ps(out.ly + q, _mm256_and_ps(p.ly, p.grad_inside));
    _mm256_storeu_ps(out.lx + q, _mm256_and_ps(p.lx, p.grad_inside));
    _mm256_storeu_ps(out.valid + q, _mm256_and_ps(one, p.inside));
    _mm256_storeu_ps(out.grad_valid + q, _mm256_and_ps(one, p.grad_inside));
  }
  if (q < r.n) point_run_scalar(pts.tail(q), out.advanced(q));
}

void sample_tap_panels(const PaddedImage& img, std::int64_t c0, std::int64_t rows, const PlanRow& plan,
                       std::int64_t npix, int nr, std::int64_t panel_stride, float* dst) {
#if defined(__AVX512F__)
  if (nr % 16 == 0) return sample_tap_panels_blocked<Block16>(img, c0, rows, plan, npix, nr, panel_stride, dst);
#endif
  if (nr % 8 == 0) return sample_tap_panels_blocked<Block8>(img, c0, rows, plan, npix, nr, panel_stride, dst);
  sample_tap_panels_scalar(img, c0, rows, plan, npix, nr, panel_stride, dst);
}

void sample_channel_rows(const PaddedImage& img, std::int64_t c0, std::int64_t count, const PlanRow& plan,
                         std::int64_t npix, float* out, std::int64_t out_stride) {
  const std::int64_t C = img.channels, down = img.padded_w * C;
  const std::int64_t full = count & ~std::int64_t(7);
  const __m256i tail = tail_mask(count - full);
  for (std::int64_t q = 0; q < npix; ++q) {
    const float* p = img.data + static_cast<std::int64_t>(plan.index[q]) * C + c0;
    const Weights w = weights_of(plan, q);
    float* o = out + q * out_stride;
    std::int64_t c = 0;
#if defined(__AVX512F__)
    const Weights16 w16 = weights16_of(plan, q);
    for (; c + 16 <= count; c += 16) _mm512_storeu_ps(o + c, sample16(p + c, C, down, w16));
#endif
    for (; c < full; c += 8) _mm256_storeu_ps(o + c, sample8(p + c, C, down, w));
    if (c < count) _mm256_maskstore_ps(o + c, tail, sample8(p + c, C, down, w));
  }
}

void scatter_channel_rows(float* grad, std::int64_t channels, std::int64_t padded_w, std::int64_t c0,
                          std::int64_t count, const ScatterTaps& s, std::int64_t npix) {
  const std::int64_t C = channels, down = padded_w * C;
  const std::int64_t full = count & ~std::int64_t(7);
  const __m256i tail = tail_mask(count - full);
  for (std::int64_t q = 0; q < npix; ++q) {
    for (std::int64_t t = 0; t < s.taps; ++t) {
      const std::int64_t e = t * s.plan_tap_stride + q;
      float* p0 = grad + static_cast<std::int64_t>(s.plan.index[e]) * C + c0;
      float* p1 = p0 + C;
      float* p2 = p0 + down;
      float* p3 = p2 + C;
      const Weights w = weights_of(s.plan, e);
      const float* gq = s.g + q * s.g_stride + t * s.g_tap_stride;
      std::int64_t c = 0;
#if defined(__AVX512F__)
      const Weights16 w16 = weights16_of(s.plan, e);
      for (; c + 16 <= count; c += 16) {
        const __m512 gv = _mm512_loadu_ps(gq + c);
        _mm512_storeu_ps(p0 + c, _mm512_fmadd_ps(w16.w0, gv, _mm512_loadu_ps(p0 + c)));
        _mm512_storeu_ps(p1 + c, _mm512_fmadd_ps(w16.w1, gv, _mm512_loadu_ps(p1 + c)));
        _mm512_storeu_ps(p2 + c, _mm512_fmadd_ps(w16.w2, gv, _mm512_loadu_ps(p2 + c)));
        _mm512_storeu_ps(p3 + c, _mm512_fmadd_ps(w16.w3, gv, _mm512_loadu_ps(p3 + c)));
      }
#endif
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
}

void corner_dots(const PaddedImage& img, std::int64_t c0, std::int64_t count, const std::int32_t* index,
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
    // The four lane sums at once: [sum a0, sum a1, sum a2, sum a3].
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    const __m128 sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    _mm_storeu_ps(out + 4 * q, _mm_add_ps(_mm_loadu_ps(out + 4 * q), sums));
  }
}

// 8 x 8 blocks transposed in registers; the edges (rows or columns past the last full block)
// are copied one float at a time.
void transpose(const float* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, float* dst,
               std::int64_t dst_stride) {
  const std::int64_t rf = rows & ~std::int64_t(7), cf = cols & ~std::int64_t(7);
  for (std::int64_t i0 = 0; i0 < rf; i0 += 8) {
    for (std::int64_t j0 = 0; j0 < cf; j0 += 8) {
      __m256 v[8];
      for (std::int64_t i = 0; i < 8; ++i) v[i] = _mm256_loadu_ps(src + (i0 + i) * src_stride + j0);
      transpose8x8(v);
      for (std::int64_t j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (j0 + j) * dst_stride + i0, v[j]);
    }
    for (std::int64_t i = i0; i < i0 + 8; ++i) {
      for (std::int64_t j = cf; j < cols; ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
    }
  }
  for (std::int64_t i = rf; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
  }
}

#else

void plan_run(const PlanRun& r, std::int32_t* index, float* w01, float* w23) { plan_run_scalar(r, index, w01, w23); }
void point_run(const PlanRun& r, const PointRun& out) { point_run_scalar(r, out); }
void sample_tap_panels(const PaddedImage& img, std::int64_t c0, std::int64_t rows, const PlanRow& plan,
                       std::int64_t npix, int nr, std::int64_t panel_stride, float* dst) {
  sample_tap_panels_scalar(img, c0, rows, plan, npix, nr, panel_stride, dst);
}
void sample_channel_rows(const PaddedImage& img, std::int64_t c0, std::int64_t count, const PlanRow& plan,
                         std::int64_t npix, float* out, std::int64_t out_stride) {
  const std::int64_t C = img.channels, down = img.padded_w * C;
  for (std::int64_t q = 0; q < npix; ++q) {
    const float* p = img.data + static_cast<std::int64_t>(plan.index[q]) * C + c0;
    float* o = out + q * out_stride;
    for (std::int64_t c = 0; c < count; ++c) o[c] = sample_at(p + c, C, down, plan, q);
  }
}
void scatter_channel_rows(float* grad, std::int64_t channels, std::int64_t padded_w, std::int64_t c0,
                          std::int64_t count, const ScatterTaps& s, std::int64_t npix) {
  const std::int64_t C = channels, down = padded_w * C;
  const std::int64_t at[4] = {0, C, down, down + C};
  for (std::int64_t q = 0; q < npix; ++q) {
    for (std::int64_t t = 0; t < s.taps; ++t) {
      const std::int64_t e = t * s.plan_tap_stride + q;
      float* p = grad + static_cast<std::int64_t>(s.plan.index[e]) * C + c0;
      const float* gq = s.g + q * s.g_stride + t * s.g_tap_stride;
      const float w[4] = {s.plan.w01[2 * e], s.plan.w01[2 * e + 1], s.plan.w23[2 * e], s.plan.w23[2 * e + 1]};
      for (int k = 0; k < 4; ++k) {
        float* pk = p + at[k];
        for (std::int64_t c = 0; c < count; ++c) pk[c] += w[k] * gq[c];
      }
    }
  }
}
void corner_dots(const PaddedImage& img, std::int64_t c0, std::int64_t count, const std::int32_t* index,
                 std::int64_t npix, const float* g, std::int64_t g_stride, float* out) {
  const std::int64_t C = img.channels, down = img.padded_w * C;
  const std::int64_t at[4] = {0, C, down, down + C};
  for (std::int64_t q = 0; q < npix; ++q) {
    const float* p = img.data + static_cast<std::int64_t>(index[q]) * C + c0;
    const float* gq = g + q * g_stride;
    for (int k = 0; k < 4; ++k) {
      float s = 0.0f;
      for (std::int64_t c = 0; c < count; ++c) s += gq[c] * p[at[k] + c];
      out[4 * q + k] += s;
    }
  }
}
void transpose(const float* src, std::int64_t src_stride, std::int64_t rows, std::int64_t cols, float* dst,
               std::int64_t dst_stride) {
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < cols; ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
  }
}

#endif

FLEXCONV_ISA_END
