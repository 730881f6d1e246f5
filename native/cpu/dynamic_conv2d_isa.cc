// The element loops of dynamic convolution (the kernel mixing and the reduction of per-sample
// kernel gradients), compiled once per instruction set (core/isa.h); dynamic_conv2d.cc picks
// the copy for this CPU. The reduction is the same plain loops in every copy (the compiler
// vectorises them for the copy's instruction set: baseline SSE2 ran it at a quarter of
// AVX-512's speed, mul and add apart, 6 ms of a 31 ms B128 8x8 backward; it is bound by
// memory, and intrinsics measured no faster). The mixing uses intrinsics on the AVX copies.
#include <cstdint>
#include "core/lanes.h"
#include "cpu/dynamic_conv2d_kernels.h"

FLEXCONV_ISA_BEGIN
namespace {

using lanes::F32;

// Lanes of each partial dot product (one AVX-512 vector), fixed so that the summation order
// depends only on the ISA.
constexpr int kDotLanes = 16;

// w[0, len) = sum_k a[k] * parts[k][offset + (0, len)], k in order. One vector of w is
// summed in registers over all K parts before it is stored: K loads and one store per
// vector, not K loads, K - 1 reloads and K stores. (The AVX copies use mix_simd below.)
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

#if defined(__AVX2__)
// The vector kernel-mixing loop, written once over the lane type of core/lanes.h (AVX2 or
// AVX-512 vectors in these copies).
// Written with intrinsics rather than left to the compiler: compiled from a plain loop, GCC
// split the lanes into mixed-width and scalar pieces, and its chain of K dependent FMAs per
// vector waited on the FMA latency (AVX-512: a B128 8x8 batch's kernels mixed in 1.2 ms
// instead of 1.65 ms).
//
// Four registers of each sample's w at a time: four independent FMA chains over the K parts
// per sample. Mixing S samples per pass loads each expert register once for all S: the packed
// experts of a deep layer exceed L2 (4 x 288 KB for 64 -> 128 3x3), so for one sample at a
// time the loop streamed them from L3. Each sample's floats are computed the same way
// whatever S is. Returns where the whole blocks end.
template <int S>
std::int64_t mix_blocks(std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                        std::int64_t offset, float* const* w) {
  constexpr int L = F32::kWidth;
  const float* first = parts[0] + offset;
  std::int64_t d = 0;
  for (; d + 4 * L <= len; d += 4 * L) {
    F32 acc[S][4];
    const F32 x0 = F32::loadu(first + d), x1 = F32::loadu(first + d + L);
    const F32 x2 = F32::loadu(first + d + 2 * L), x3 = F32::loadu(first + d + 3 * L);
    for (int s = 0; s < S; ++s) {
      const F32 a0 = F32::splat(a[s * K]);
      acc[s][0] = lanes::mul(a0, x0);
      acc[s][1] = lanes::mul(a0, x1);
      acc[s][2] = lanes::mul(a0, x2);
      acc[s][3] = lanes::mul(a0, x3);
    }
    for (std::int64_t k = 1; k < K; ++k) {
      const float* e = parts[k] + offset + d;
      const F32 e0 = F32::loadu(e), e1 = F32::loadu(e + L), e2 = F32::loadu(e + 2 * L), e3 = F32::loadu(e + 3 * L);
      for (int s = 0; s < S; ++s) {
        const F32 ak = F32::splat(a[s * K + k]);
        acc[s][0] = lanes::fmadd(ak, e0, acc[s][0]);
        acc[s][1] = lanes::fmadd(ak, e1, acc[s][1]);
        acc[s][2] = lanes::fmadd(ak, e2, acc[s][2]);
        acc[s][3] = lanes::fmadd(ak, e3, acc[s][3]);
      }
    }
    for (int s = 0; s < S; ++s) {
      for (int r = 0; r < 4; ++r) acc[s][r].storeu(w[s] + d + r * L);
    }
  }
  return d;
}

// dynamic_mix for lane type V.
void mix_simd(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
              std::int64_t offset, float* const* ws) {
  const std::int64_t start =
      samples == 2 ? mix_blocks<2>(K, len, a, parts, offset, ws) : mix_blocks<1>(K, len, a, parts, offset, ws);
  const float* first = parts[0] + offset;
  for (int s = 0; s < samples; ++s, a += K) {
    float* w = ws[s];
    const F32 a0 = F32::splat(a[0]);
    // The rest one (possibly partial, masked) register at a time, with the same arithmetic.
    for (std::int64_t d = start; d < len; d += F32::kWidth) {
      const int n = static_cast<int>(len - d < F32::kWidth ? len - d : F32::kWidth);
      F32 acc = lanes::mul(a0, F32::load_first(first + d, n));
      for (std::int64_t k = 1; k < K; ++k)
        acc = lanes::fmadd(F32::splat(a[k]), F32::load_first(parts[k] + offset + d, n), acc);
      acc.store_first(w + d, n);
    }
  }
}

#endif  // __AVX2__

}  // namespace

void dynamic_mix(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                 std::int64_t offset, float* const* w) {
#if defined(__AVX2__)
  mix_simd(samples, K, len, a, parts, offset, w);
#else
  for (int s = 0; s < samples; ++s) mix_range(K, len, a + s * K, parts, offset, w[s]);
#endif
}

void dynamic_reduce(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                    const float* g_rows, const float* e_rows, float* ge_rows, float* dots) {
  reduce_block(n, K, len, stride, a, g_rows, e_rows, ge_rows, dots);
}

FLEXCONV_ISA_END
