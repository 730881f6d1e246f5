// The row kernels of softmax and cross-entropy (one contiguous row per call: the
// classification case), compiled once per instruction set (core/isa.h). Sums use 16
// independent float lanes so the compiler vectorises them without reassociating (no
// -ffast-math) at any vector width, and the lanes are added in double: every copy sums in the
// same order.
#include "core/no_trapping_math.h"  // first: it changes how the loops below compile
#include <cmath>
#include <cstdint>

#include "core/lanes.h"
#include "cpu/row_ops.h"
#include "math/pointwise.h"
#include "math/softmax.h"

FLEXCONV_ISA_BEGIN
namespace {

constexpr int kLanes = 16;

// The lines of the next row (n floats on) that [i, i + count) of this one meets: rows are read one
// after another, and each row's first pass otherwise waits on memory (a [256, 1000] softmax
// whose input came from L3 took 1.35x as long). Past the last row a prefetch never faults.
inline void prefetch_next_row(const float* row, std::int64_t n, std::int64_t i, int count) {
  for (int r = 0; r < count; r += 16) lanes::prefetch(row + n + i + r);
}

// The largest x_i, or NaN when there is one (every output is NaN then either way). Written
// with the lane type: GCC kept the loop's 16 lanes as 16 scalar registers (vmaxss), a fifth of
// a [256, 1000] softmax's time.
float max(const float* __restrict x, std::int64_t n) {
  using lanes::F32;
  constexpr int W = F32::kWidth;
  F32 acc[4] = {F32::splat(-INFINITY), F32::splat(-INFINITY), F32::splat(-INFINITY), F32::splat(-INFINITY)};
  std::int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    // The next row's same lines (rows are read one after another; past the last row a
    // prefetch never faults): the first pass over a row otherwise waits on memory.
    prefetch_next_row(x, n, i, 4 * W);
    for (int r = 0; r < 4; ++r) acc[r] = lanes::max_scan(acc[r], F32::loadu(x + i + r * W));
  }
  for (; i + W <= n; i += W) acc[0] = lanes::max_scan(acc[0], F32::loadu(x + i));
  float lanes_of[4 * W];
  for (int r = 0; r < 4; ++r) acc[r].storeu(lanes_of + r * W);
  float m = -INFINITY;
  for (int l = 0; l < 4 * W; ++l) m = lanes_of[l] > m || lanes_of[l] != lanes_of[l] ? lanes_of[l] : m;
  for (; i < n; ++i) m = x[i] > m || x[i] != x[i] ? x[i] : m;
  return m;
}

#if defined(__AVX512F__)
// math::vexpf on 16 lanes, its range clamp, reduction and polynomial, with the final scaling by
// 2^n in one vscalefps (exact, and a single rounding where the result is subnormal, as vexpf's
// two exact-then-rounding multiplies) instead of building two exponents from integers: a
// [256, 1000] softmax spent a third of its exponentials' instructions there.
inline __m512 exp16(__m512 x) {
  using namespace math;
  // min / max with the constant first return x where x is NaN, as vexpf's ternaries do. (The
  // masked forms with every lane set: the plain ones pass GCC 12 an undefined source it warns on.)
  const __mmask16 all = 0xFFFF;
  x = _mm512_mask_min_ps(x, all, _mm512_set1_ps(kExpMax), x);
  x = _mm512_mask_max_ps(x, all, _mm512_set1_ps(kExpMin), x);
  const __m512 round = _mm512_set1_ps(kExpRound);
  const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(kExpLog2e), round), round);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kExpLn2Hi), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kExpLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpP5));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  return _mm512_mask_scalef_ps(p, all, p, n);
}
#endif

// sum_i exp(x_i - m); also stores the exponentials in `out` when it is not null.
double exp_sum(const float* __restrict x, std::int64_t n, float m, float* __restrict out) {
  float lanes[kLanes] = {};
  std::int64_t i = 0;
#if defined(__AVX512F__)
  static_assert(kLanes == 16, "one AVX-512 vector of lanes");
  __m512 acc = _mm512_setzero_ps();
  const __m512 vm = _mm512_set1_ps(m);
  for (; i + kLanes <= n; i += kLanes) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm));
    if (out) _mm512_storeu_ps(out + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  _mm512_storeu_ps(lanes, acc);
#endif
  if (out) {
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const float e = math::vexpf(x[i + l] - m);
        out[i + l] = e;
        lanes[l] += e;
      }
    }
  } else {
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] += math::vexpf(x[i + l] - m);
    }
  }
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  for (; i < n; ++i) {
    const float e = math::vexpf(x[i] - m);
    if (out) out[i] = e;
    total += e;
  }
  return total;
}

// sum_i (x_i - m)
double shifted_sum(const float* __restrict x, std::int64_t n, float m) {
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += x[i + l] - m;
  }
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  for (; i < n; ++i) total += x[i] - m;
  return total;
}

// sum_i a_i * b_i (b may be null: then sum_i a_i)
double dot(const float* __restrict a, const float* __restrict b, std::int64_t n) {
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  if (b) {
    // The 16 lanes as kLanes / W vectors, each lane a multiply-add chain in index order (the
    // plain loop's arithmetic, which GCC contracted into FMAs), with the next rows prefetched.
    using lanes::F32;
    constexpr int W = F32::kWidth, kVectors = kLanes / W;
    F32 acc[kVectors];
    for (int v = 0; v < kVectors; ++v) acc[v] = F32::zero();
    for (; i + 4 * kLanes <= n; i += 4 * kLanes) {
      prefetch_next_row(a, n, i, 4 * kLanes);
      prefetch_next_row(b, n, i, 4 * kLanes);
      for (int q = 0; q < 4 * kLanes; q += kLanes) {
        for (int v = 0; v < kVectors; ++v) {
          acc[v] = lanes::fmadd(F32::loadu(a + i + q + v * W), F32::loadu(b + i + q + v * W), acc[v]);
        }
      }
    }
    for (; i + kLanes <= n; i += kLanes) {
      for (int v = 0; v < kVectors; ++v) {
        acc[v] = lanes::fmadd(F32::loadu(a + i + v * W), F32::loadu(b + i + v * W), acc[v]);
      }
    }
    for (int v = 0; v < kVectors; ++v) acc[v].storeu(lanes + v * W);
  } else {
    for (; i + kLanes <= n; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) lanes[l] += a[i + l];
    }
  }
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  for (; i < n; ++i) total += b ? a[i] * b[i] : a[i];
  return total;
}

// m[i] = the largest of the n values of position i (`stride` apart), for len positions: the
// channel maximum of a chunk of a segmentation map (NaN never wins here; the sums carry it).
void chunk_max(const float* x, std::int64_t n, std::int64_t stride, std::int64_t len, float* m) {
  for (std::int64_t i = 0; i < len; ++i) m[i] = -INFINITY;
  for (std::int64_t k = 0; k < n; ++k) {
    const float* row = x + k * stride;
    for (std::int64_t i = 0; i < len; ++i) m[i] = row[i] > m[i] ? row[i] : m[i];
  }
}

}  // namespace

void softmax_chunk(const float* x, float* y, std::int64_t n, std::int64_t inner, std::int64_t len, bool log) {
  float m[rows::kChunk];
  double s[rows::kChunk];
  chunk_max(x, n, inner, len, m);
  for (std::int64_t i = 0; i < len; ++i) s[i] = 0.0;
  for (std::int64_t k = 0; k < n; ++k) {
    const float* row = x + k * inner;
    float* out = y + k * inner;
    for (std::int64_t i = 0; i < len; ++i) {
      const float e = math::vexpf(row[i] - m[i]);
      s[i] += e;
      if (!log) out[i] = e;
    }
  }
  if (log) {
    // (x - m) - log s: exact for the largest entries even when the logits are huge.
    float logs[rows::kChunk];
    for (std::int64_t i = 0; i < len; ++i) logs[i] = static_cast<float>(std::log(s[i]));
    for (std::int64_t k = 0; k < n; ++k) {
      const float* row = x + k * inner;
      float* out = y + k * inner;
      for (std::int64_t i = 0; i < len; ++i) out[i] = (row[i] - m[i]) - logs[i];
    }
  } else {
    float inv[rows::kChunk];
    for (std::int64_t i = 0; i < len; ++i) inv[i] = static_cast<float>(1.0 / s[i]);
    for (std::int64_t k = 0; k < n; ++k) {
      float* out = y + k * inner;
      for (std::int64_t i = 0; i < len; ++i) out[i] *= inv[i];
    }
  }
}

void softmax_chunk_backward(const float* y, const float* g, float* gx, std::int64_t n, std::int64_t inner,
                            std::int64_t len, bool log) {
  double dot[rows::kChunk];
  for (std::int64_t i = 0; i < len; ++i) dot[i] = 0.0;
  for (std::int64_t k = 0; k < n; ++k) {
    const float* yr = y + k * inner;
    const float* gr = g + k * inner;
    if (log) {
      for (std::int64_t i = 0; i < len; ++i) dot[i] += gr[i];
    } else {
      for (std::int64_t i = 0; i < len; ++i) dot[i] += static_cast<double>(gr[i]) * yr[i];
    }
  }
  float d[rows::kChunk];
  for (std::int64_t i = 0; i < len; ++i) d[i] = static_cast<float>(dot[i]);
  for (std::int64_t k = 0; k < n; ++k) {
    const float* yr = y + k * inner;
    const float* gr = g + k * inner;
    float* out = gx + k * inner;
    if (log) {
      for (std::int64_t i = 0; i < len; ++i) out[i] = gr[i] - math::vexpf(yr[i]) * d[i];
    } else {
      for (std::int64_t i = 0; i < len; ++i) out[i] = yr[i] * (gr[i] - d[i]);
    }
  }
}

void cross_entropy_chunk(const float* x, const float* target, std::int64_t C, std::int64_t S, std::int64_t len,
                         std::int64_t ignore, float smoothing, float* loss, float* stats) {
  float m[rows::kChunk];
  double z[rows::kChunk], sum_shifted[rows::kChunk];
  chunk_max(x, C, S, len, m);
  for (std::int64_t i = 0; i < len; ++i) {
    z[i] = 0.0;
    sum_shifted[i] = 0.0;
  }
  for (std::int64_t c = 0; c < C; ++c) {
    const float* row = x + c * S;
    for (std::int64_t i = 0; i < len; ++i) {
      const float shifted = row[i] - m[i];
      z[i] += math::vexpf(shifted);
      sum_shifted[i] += shifted;
    }
  }
  for (std::int64_t i = 0; i < len; ++i) {
    const double logz = std::log(z[i]);
    stats[2 * i] = m[i];
    stats[2 * i + 1] = static_cast<float>(logz);
    const std::int64_t t = static_cast<std::int64_t>(target[i]);
    if (t == ignore) {
      loss[i] = 0.0f;
      continue;
    }
    // lse - (1-eps) x_t - eps/C sum_c x_c, with every logit shifted by the maximum.
    loss[i] = static_cast<float>(logz - (1.0 - smoothing) * (x[t * S + i] - m[i]) -
                                 static_cast<double>(smoothing) / static_cast<double>(C) * sum_shifted[i]);
  }
}

void cross_entropy_chunk_backward(const float* x, const float* target, const float* stats, const float* weight,
                                  bool weight_per_position, float scale, std::int64_t C, std::int64_t S,
                                  std::int64_t len, std::int64_t ignore, float smoothing, float* grad) {
  const float inv_c = 1.0f / static_cast<float>(C);
  float w[rows::kChunk], m[rows::kChunk], logz[rows::kChunk];
  std::int64_t t[rows::kChunk];
  for (std::int64_t i = 0; i < len; ++i) {
    t[i] = static_cast<std::int64_t>(target[i]);
    w[i] = t[i] == ignore ? 0.0f : (weight_per_position ? weight[i] : weight[0]) * scale;
    m[i] = stats[2 * i];
    logz[i] = stats[2 * i + 1];
  }
  for (std::int64_t c = 0; c < C; ++c) {
    const float* row = x + c * S;
    float* out = grad + c * S;
    for (std::int64_t i = 0; i < len; ++i) {
      out[i] = w[i] * math::cross_entropy_grad(row[i], m[i], logz[i], t[i] == c, smoothing, inv_c);
    }
  }
}

void softmax_row(const float* x, float* y, std::int64_t n, bool log) {
  const float m = max(x, n);
  const double s = exp_sum(x, n, m, log ? nullptr : y);
  if (log) {
    const float logs = static_cast<float>(std::log(s));
    for (std::int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - logs;
  } else {
    const float inv = static_cast<float>(1.0 / s);
    for (std::int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

void softmax_row_backward(const float* y, const float* g, float* gx, std::int64_t n, bool log) {
  const float d = static_cast<float>(dot(g, log ? nullptr : y, n));
  if (log) {
    for (std::int64_t i = 0; i < n; ++i) gx[i] = g[i] - math::vexpf(y[i]) * d;
  } else {
    for (std::int64_t i = 0; i < n; ++i) gx[i] = y[i] * (g[i] - d);
  }
}

void cross_entropy_row(const float* x, std::int64_t n, std::int64_t t, std::int64_t ignore, float smoothing,
                       float* m_out, float* logz_out, float* loss) {
  const float m = max(x, n);
  const double logz = std::log(exp_sum(x, n, m, nullptr));
  *m_out = m;
  *logz_out = static_cast<float>(logz);
  if (t == ignore) {
    *loss = 0.0f;
    return;
  }
  // lse - (1-eps) x_t - eps/C sum_c x_c, with every logit shifted by the maximum.
  const double smooth = smoothing != 0.0f ? shifted_sum(x, n, m) : 0.0;
  *loss = static_cast<float>(logz - (1.0 - smoothing) * (x[t] - m) -
                             static_cast<double>(smoothing) / static_cast<double>(n) * smooth);
}

void cross_entropy_row_backward(const float* x, float* out, std::int64_t n, std::int64_t t, std::int64_t ignore,
                                float w, float m, float logz, float smoothing) {
  const float shift = smoothing * (1.0f / static_cast<float>(n));
  std::int64_t c = 0;
  for (; c + 64 <= n; c += 64) {
    prefetch_next_row(x, n, c, 64);
    for (int q = 0; q < 64; ++q) out[c + q] = w * (math::vexpf((x[c + q] - m) - logz) - shift);
  }
  for (; c < n; ++c) out[c] = w * (math::vexpf((x[c] - m) - logz) - shift);
  if (t != ignore) out[t] -= w * (1.0f - smoothing);
}

FLEXCONV_ISA_END
