// The element loops of dynamic convolution (the kernel mixing and the reduction of per-sample
// kernel gradients), compiled once per instruction set (core/isa.h); dynamic_conv2d.cc picks
// the copy for this CPU. The reduction is written once over the vector type of core/lanes.h (so
// its partial sums, and the order it adds them in, depend only on the copy); the mixing uses
// intrinsics on the AVX copies and plain loops elsewhere.
#include <cstdint>
#include "core/lanes.h"
#include "cpu/dynamic_conv2d_kernels.h"

FLEXCONV_ISA_BEGIN
namespace {

using lanes::F32;

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

// One vector (n lanes: all of them when kFull) of the reduction below, at column d of one row,
// for E experts.
template <int G, int E, bool kGe, bool kFull>
inline void reduce_vector(const float* const* gr, const float* const* er, float* const* ger, std::int64_t d, int n,
                          const F32 (*as)[E], F32 (*acc)[E]) {
  const auto load = [&](const float* p) { return kFull ? F32::loadu(p) : F32::load_first(p, n); };
  F32 gv[G];
  for (int s = 0; s < G; ++s) gv[s] = load(gr[s] + d);
  for (int x = 0; x < E; ++x) {
    const F32 ev = load(er[x] + d);
    for (int s = 0; s < G; ++s) acc[s][x] = lanes::fmadd(gv[s], ev, acc[s][x]);
    if (kGe) {
      F32 sum = load(ger[x] + d);
      for (int s = 0; s < G; ++s) sum = lanes::fmadd(as[s][x], gv[s], sum);
      if (kFull) {
        sum.storeu(ger[x] + d);
      } else {
        sum.store_first(ger[x] + d, n);
      }
    }
  }
}

// G samples' blocks g[s] (rows rows of len, g_ld apart) against E experts' blocks (expert x at
// e + x * e_stride, its gradient at ge + x * ge_stride; see ReduceBlock):
//   dot[s * K + x] = <g[s], e_x> (one vector of partial sums over the whole block, then a tree),
//   ge_x += sum_s a[s * K + x] * g[s] (s in order).
// G samples per pass load each expert's e and ge once for G rows of g, and E experts per pass
// load g once for E experts: a block of four samples' tiles is read from L2 K / E times, not K.
// Written with the vector type: from plain loops GCC kept the partial sums in memory as scalars
// between rows and rebuilt the vectors per row (rows of 144 floats: a B64 8x8 -> 4x4 backward
// reduced at a third of this speed).
template <int G, int E, bool kGe>
void reduce_samples(const ReduceBlock& blk, const float* const* g, const float* a, std::int64_t K, const float* e,
                    float* ge, float* dot) {
  constexpr int L = F32::kWidth;
  F32 acc[G][E], as[G][E];
  for (int s = 0; s < G; ++s) {
    for (int x = 0; x < E; ++x) {
      acc[s][x] = F32::zero();
      as[s][x] = F32::splat(a[s * K + x]);
    }
  }
  const std::int64_t len = blk.len, full = len / L * L;
  for (std::int64_t r = 0; r < blk.rows; ++r) {
    const float* gr[G];
    for (int s = 0; s < G; ++s) gr[s] = g[s] + r * blk.g_ld;
    const float* er[E];
    float* ger[E];
    for (int x = 0; x < E; ++x) {
      er[x] = e + x * blk.e_stride + r * blk.e_ld;
      ger[x] = kGe ? ge + x * blk.ge_stride + r * blk.ge_ld : nullptr;
    }
    for (std::int64_t d = 0; d < full; d += L) reduce_vector<G, E, kGe, true>(gr, er, ger, d, L, as, acc);
    if (full < len) reduce_vector<G, E, kGe, false>(gr, er, ger, full, static_cast<int>(len - full), as, acc);
  }
  for (int s = 0; s < G; ++s) {
    for (int x = 0; x < E; ++x) {
      float lanes_of[L];
      acc[s][x].storeu(lanes_of);
      for (int w = L / 2; w >= 1; w /= 2) {
        for (int l = 0; l < w; ++l) lanes_of[l] += lanes_of[l + w];
      }
      dot[s * K + x] = lanes_of[0];
    }
  }
}

// reduce_samples for `count` (1 to 4) samples and `experts` (1 or 2) experts.
template <bool kGe>
void reduce_group(int count, int experts, const ReduceBlock& blk, const float* const* g, const float* a, std::int64_t K,
                  const float* e, float* ge, float* dot) {
  using Fn =
      void (*)(const ReduceBlock&, const float* const*, const float*, std::int64_t, const float*, float*, float*);
  static constexpr Fn table[4][2] = {
      {reduce_samples<1, 1, kGe>, reduce_samples<1, 2, kGe>},
      {reduce_samples<2, 1, kGe>, reduce_samples<2, 2, kGe>},
      {reduce_samples<3, 1, kGe>, reduce_samples<3, 2, kGe>},
      {reduce_samples<4, 1, kGe>, reduce_samples<4, 2, kGe>},
  };
  table[count - 1][experts - 1](blk, g, a, K, e, ge, dot);
}

// dynamic_reduce (see dynamic_conv2d_kernels.h): groups of samples outside, pairs of experts
// inside.
void reduce_block(std::int64_t n, std::int64_t K, const ReduceBlock& blk, const float* a, const float* g_rows,
                  const float* e_rows, float* ge_rows, float* dots) {
  constexpr int kGroup = 4, kExperts = 2;
  for (std::int64_t s0 = 0; s0 < n; s0 += kGroup) {
    const float* g[kGroup];
    const int count = n - s0 < kGroup ? static_cast<int>(n - s0) : kGroup;
    for (int s = 0; s < count; ++s) g[s] = g_rows + (s0 + s) * blk.g_stride;
    for (std::int64_t k = 0; k < K; k += kExperts) {
      const int experts = K - k < kExperts ? static_cast<int>(K - k) : kExperts;
      const float* e = e_rows + k * blk.e_stride;
      float* ge = ge_rows ? ge_rows + k * blk.ge_stride : nullptr;
      const float* as = a + s0 * K + k;
      float* dot = dots + s0 * K + k;
      if (ge) {
        reduce_group<true>(count, experts, blk, g, as, K, e, ge, dot);
      } else {
        reduce_group<false>(count, experts, blk, g, as, K, e, ge, dot);
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
// time the loop streamed them from L3 (dynamic_conv2d.cc groups two or four samples). Each
// sample's floats are computed the same way whatever S is. Returns where the whole blocks end.
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
  std::int64_t start = 0;
  if (F32::kWidth == 16 && samples >= 3) {
    // (4 x 4 accumulators and 4 expert registers fit AVX-512's 32; AVX2's 16 take pairs below.)
    start = samples == 4 ? mix_blocks<4>(K, len, a, parts, offset, ws) : mix_blocks<3>(K, len, a, parts, offset, ws);
  } else {
    for (int s = 0; s < samples; s += 2) {
      start = samples - s >= 2 ? mix_blocks<2>(K, len, a + s * K, parts, offset, ws + s)
                               : mix_blocks<1>(K, len, a + s * K, parts, offset, ws + s);
    }
  }
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

void dynamic_reduce(std::int64_t n, std::int64_t K, const ReduceBlock& blk, const float* a, const float* g_rows,
                    const float* e_rows, float* ge_rows, float* dots) {
  reduce_block(n, K, blk, a, g_rows, e_rows, ge_rows, dots);
}

FLEXCONV_ISA_END
