// The element loops of dynamic convolution (the kernel mixing and the reduction of per-sample
// kernel gradients), included by dynamic_conv2d.cc (baseline SSE2), dynamic_conv2d_avx2.cc
// and dynamic_conv2d_avx512.cc, each compiling them for its instruction set inside an
// anonymous namespace. Baseline SSE2 ran the reduction at a quarter of AVX-512's speed,
// mul and add apart (6 ms of a 31 ms B128 8x8 backward).
//
// Needs: <cstdint>.

// Lanes of each partial dot product (one AVX-512 vector), fixed so that the summation order
// depends only on the ISA.
constexpr int kDotLanes = 16;

// w[0, len) = sum_k a[k] * parts[k][offset + (0, len)], k in order. One vector of w is
// summed in registers over all K parts before it is stored: K loads and one store per
// vector, not K loads, K - 1 reloads and K stores. (The AVX files use dynamic_conv2d_mix_simd.h.)
[[maybe_unused]] void mix_range(std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                                std::int64_t offset, float* __restrict w) {
  constexpr int kLanes = 16;
  const float* __restrict first = parts[0] + offset;
  std::int64_t d = 0;
  for (; d + kLanes <= len; d += kLanes) {
    float acc[kLanes];
    for (int l = 0; l < kLanes; ++l) acc[l] = a[0] * first[d + l];
    for (std::int64_t k = 1; k < K; ++k) {
      const float ak = a[k];
      const float* __restrict e = parts[k] + offset + d;
      for (int l = 0; l < kLanes; ++l) acc[l] += ak * e[l];
    }
    for (int l = 0; l < kLanes; ++l) w[d + l] = acc[l];
  }
  for (; d < len; ++d) {
    float acc = a[0] * first[d];
    for (std::int64_t k = 1; k < K; ++k) acc += a[k] * parts[k][offset + d];
    w[d] = acc;
  }
}

// G samples' rows g[s] against one expert row e over len columns:
//   dot[s] = <g[s], e> (kDotLanes partial sums, then a tree),  ge += sum_s a[s] * g[s] (s in order).
// G samples per pass load e and ge once for G rows of g: the loop is bound by loads (an
// AVX-512 load per cycle on Zen 4), not by FMAs.
template <int G, bool kGe>
void reduce_samples(std::int64_t len, const float* const* g, const float* a, std::int64_t a_stride,
                    const float* __restrict e, float* __restrict ge, float* dot, std::int64_t dot_stride) {
  float acc[G][kDotLanes] = {};
  float as[G];
  for (int s = 0; s < G; ++s) as[s] = a[s * a_stride];
  std::int64_t d = 0;
  for (; d + kDotLanes <= len; d += kDotLanes) {
    for (int l = 0; l < kDotLanes; ++l) {
      const float ev = e[d + l];
      float sum = kGe ? ge[d + l] : 0.0f;
      for (int s = 0; s < G; ++s) {
        const float gv = g[s][d + l];
        acc[s][l] += gv * ev;
        sum += as[s] * gv;
      }
      if (kGe) ge[d + l] = sum;
    }
  }
  for (int l = 0; d + l < len; ++l) {
    float sum = kGe ? ge[d + l] : 0.0f;
    for (int s = 0; s < G; ++s) {
      const float gv = g[s][d + l];
      acc[s][l] += gv * e[d + l];
      sum += as[s] * gv;
    }
    if (kGe) ge[d + l] = sum;
  }
  for (int s = 0; s < G; ++s) {
    for (int w = kDotLanes / 2; w >= 1; w /= 2) {
      for (int l = 0; l < w; ++l) acc[s][l] += acc[s][l + w];
    }
    dot[s * dot_stride] = acc[s][0];
  }
}

template <bool kGe>
void reduce_group(int count, std::int64_t len, const float* const* g, const float* as, std::int64_t K, const float* e,
                  float* ge, float* dot) {
  switch (count) {
    case 4:
      reduce_samples<4, kGe>(len, g, as, K, e, ge, dot, K);
      break;
    case 3:
      reduce_samples<3, kGe>(len, g, as, K, e, ge, dot, K);
      break;
    case 2:
      reduce_samples<2, kGe>(len, g, as, K, e, ge, dot, K);
      break;
    default:
      reduce_samples<1, kGe>(len, g, as, K, e, ge, dot, K);
      break;
  }
}

// For the n samples s (kernel gradient rows g + s * stride) over one block of len columns:
//   ge[k * stride + (0, len)] += a[s * K + k] * g_s   (s in order; skipped when ge is null)
//   dots[s * K + k] = <g_s, e[k * stride + (0, len)]>
void reduce_block(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                  const float* g_rows, const float* e_rows, float* ge_rows, float* dots) {
  constexpr int kGroup = 4;
  for (std::int64_t k = 0; k < K; ++k) {
    const float* e = e_rows + k * stride;
    float* ge = ge_rows ? ge_rows + k * stride : nullptr;
    for (std::int64_t s0 = 0; s0 < n; s0 += kGroup) {
      const float* g[kGroup];
      const int count = n - s0 < kGroup ? static_cast<int>(n - s0) : kGroup;
      for (int s = 0; s < count; ++s) g[s] = g_rows + (s0 + s) * stride;
      const float* as = a + s0 * K + k;
      float* dot = dots + s0 * K + k;
      if (ge) {
        reduce_group<true>(count, len, g, as, K, e, ge, dot);
      } else {
        reduce_group<false>(count, len, g, as, K, e, ge, dot);
      }
    }
  }
}
