// The float vector of the instruction set this translation unit is compiled for: one lane type
// that per-ISA kernels (*_isa.cc, core/isa.h) are written against once, instead of one copy of
// the kernel per set of intrinsics. Its width is 16 under AVX-512, 8 under AVX2 + FMA, 4 with
// GCC / Clang generic vectors (SSE on x86-64, NEON on AArch64) and 1 elsewhere.
//
// Besides loads and stores: add, sub, mul, div, fmadd, max_scan(acc, v), one step of PyTorch's max
// scan (v replaces acc where v > acc or v is NaN, so ties keep the earlier value and NaN wins),
// relu (v < 0 ? 0 : v, so NaN stays NaN and -0 stays -0, as torch.relu), keep_where_positive(gate,
// v) (v where gate > 0, else +0: ReLU's backward without a branch), sum_in_double (the lanes
// widened to double and added in a fixed tree order), and pick_every, which gathers every
// step-th lane to the front (strided windows); lane_map(from) and remap(a, b, map), any fixed
// rearrangement of two vectors' lanes with zeros (lane k of the result is lane from[k] of a, or
// lane from[k] - kWidth of b, or +0 where from[k] is outside [0, 2 kWidth); from holds kWidth
// entries), and remap(v, map) with b zero; load_whole_or_first<kWhole>(p, n), a row's last
// partial vector with zeros past its end.
//
// Include only from *_isa.cc files. Everything here has internal linkage (an anonymous
// namespace), so the wide copies can never be picked by the linker for a narrower caller.
#pragma once
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace flexconv {
namespace lanes {
namespace {

#if defined(__AVX512F__)

struct F32 {
  static constexpr int kWidth = 16;
  __m512 v;
  static F32 zero() { return {_mm512_setzero_ps()}; }
  static F32 splat(float x) { return {_mm512_set1_ps(x)}; }
  static F32 broadcast(const float* p) { return {_mm512_set1_ps(*p)}; }
  static F32 load(const float* p) { return {_mm512_load_ps(p)}; }  // aligned to the vector
  static F32 loadu(const float* p) { return {_mm512_loadu_ps(p)}; }
  // p[0..n) and zeros, for 0 <= n <= kWidth; lanes past n touch no memory.
  static F32 load_first(const float* p, int n) { return {_mm512_maskz_loadu_ps(mask(n), p)}; }
  void storeu(float* p) const { _mm512_storeu_ps(p, v); }
  void store_first(float* p, int n) const { _mm512_mask_storeu_ps(p, mask(n), v); }
  // Lane k holds lane first + k*step of this vector, for the k where that is below kWidth.
  F32 pick_every(int first, int step) const {
    const __m512i k = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i from = _mm512_add_epi32(_mm512_set1_epi32(first), _mm512_mullo_epi32(k, _mm512_set1_epi32(step)));
    return {_mm512_permutex2var_ps(v, from, v)};  // not permutexvar: GCC 12 warns on its undefined source
  }
  // The first n lanes (0 <= n <= 16).
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
};
inline F32 mul(F32 a, F32 b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline F32 add(F32 a, F32 b) { return {_mm512_add_ps(a.v, b.v)}; }
inline F32 div(F32 a, F32 b) { return {_mm512_div_ps(a.v, b.v)}; }
inline F32 fmadd(F32 a, F32 b, F32 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
struct LaneMap {
  __m512i from;
  __mmask16 keep;
};
inline LaneMap lane_map(const int* from) {
  alignas(64) int index[16];
  unsigned keep = 0;
  for (int k = 0; k < 16; ++k) {
    const bool inside = from[k] >= 0 && from[k] < 32;
    index[k] = inside ? from[k] : 0;
    keep |= (inside ? 1u : 0u) << k;
  }
  return {_mm512_load_si512(index), static_cast<__mmask16>(keep)};
}
inline F32 remap(F32 a, F32 b, const LaneMap& m) { return {_mm512_maskz_permutex2var_ps(m.keep, a.v, m.from, b.v)}; }
// maxps(v, acc) is v where v > acc and acc otherwise (ties, and either operand NaN: its second
// operand), so only v's NaN needs a blend: three instructions, the NaN test off acc's chain.
inline F32 max_scan(F32 acc, F32 v) {
  const __m512 larger = _mm512_maskz_max_ps(0xFFFF, v.v, acc.v);
  return {_mm512_mask_mov_ps(larger, _mm512_cmp_ps_mask(v.v, v.v, _CMP_UNORD_Q), v.v)};
}
inline F32 sub(F32 a, F32 b) { return {_mm512_sub_ps(a.v, b.v)}; }
// maxps returns its second operand when either is NaN or both are zeros: v's NaN and -0 survive.
// (The masked forms here and below: GCC 12 warns on the plain ones' undefined source.)
inline F32 relu(F32 v) { return {_mm512_maskz_max_ps(0xFFFF, _mm512_setzero_ps(), v.v)}; }
// An AND with the mask widened to a vector, not a masked move: GCC folds a masked move of a load
// into a masked load, which cannot start before the gate's load and compare are done (the batch
// norm backward's gated sums ran 2x slower on data from L3 that way).
inline F32 keep_where_positive(F32 gate, F32 v) {
  const __m512i keep = _mm512_movm_epi32(_mm512_cmp_ps_mask(gate.v, _mm512_setzero_ps(), _CMP_GT_OQ));
  return {_mm512_castsi512_ps(_mm512_and_si512(keep, _mm512_castps_si512(v.v)))};
}
inline double sum_in_double(F32 v) {
  const __m512d wide = _mm512_add_pd(_mm512_maskz_cvtps_pd(0xFF, _mm512_maskz_extractf32x8_ps(0xFF, v.v, 0)),
                                     _mm512_maskz_cvtps_pd(0xFF, _mm512_maskz_extractf32x8_ps(0xFF, v.v, 1)));
  const __m256d four =
      _mm256_add_pd(_mm512_maskz_extractf64x4_pd(0xF, wide, 0), _mm512_maskz_extractf64x4_pd(0xF, wide, 1));
  const __m128d two = _mm_add_pd(_mm256_castpd256_pd128(four), _mm256_extractf128_pd(four, 1));
  return _mm_cvtsd_f64(_mm_add_sd(two, _mm_unpackhi_pd(two, two)));
}

#elif defined(__AVX2__)

struct F32 {
  static constexpr int kWidth = 8;
  __m256 v;
  static F32 zero() { return {_mm256_setzero_ps()}; }
  static F32 splat(float x) { return {_mm256_set1_ps(x)}; }
  static F32 broadcast(const float* p) { return {_mm256_broadcast_ss(p)}; }
  static F32 load(const float* p) { return {_mm256_load_ps(p)}; }
  static F32 loadu(const float* p) { return {_mm256_loadu_ps(p)}; }
  static F32 load_first(const float* p, int n) { return {_mm256_maskload_ps(p, mask(n))}; }
  void storeu(float* p) const { _mm256_storeu_ps(p, v); }
  void store_first(float* p, int n) const { _mm256_maskstore_ps(p, mask(n), v); }
  F32 pick_every(int first, int step) const {
    const __m256i k = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return {_mm256_permutevar8x32_ps(
        v, _mm256_add_epi32(_mm256_set1_epi32(first), _mm256_mullo_epi32(k, _mm256_set1_epi32(step))))};
  }
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
};
inline F32 mul(F32 a, F32 b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline F32 add(F32 a, F32 b) { return {_mm256_add_ps(a.v, b.v)}; }
inline F32 div(F32 a, F32 b) { return {_mm256_div_ps(a.v, b.v)}; }
inline F32 fmadd(F32 a, F32 b, F32 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
struct LaneMap {
  __m256i from;         // the lane within its source
  __m256 from_b, keep;  // all ones where the lane comes from b / is kept
};
inline LaneMap lane_map(const int* from) {
  alignas(32) int index[8], from_b[8], keep[8];
  for (int k = 0; k < 8; ++k) {
    const bool inside = from[k] >= 0 && from[k] < 16;
    index[k] = inside ? from[k] % 8 : 0;
    from_b[k] = inside && from[k] >= 8 ? -1 : 0;
    keep[k] = inside ? -1 : 0;
  }
  const auto ints = [](const int* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); };
  return {ints(index), _mm256_castsi256_ps(ints(from_b)), _mm256_castsi256_ps(ints(keep))};
}
inline F32 remap(F32 a, F32 b, const LaneMap& m) {
  const __m256 picked =
      _mm256_blendv_ps(_mm256_permutevar8x32_ps(a.v, m.from), _mm256_permutevar8x32_ps(b.v, m.from), m.from_b);
  return {_mm256_and_ps(picked, m.keep)};
}
inline F32 max_scan(F32 acc, F32 v) {
  return {_mm256_blendv_ps(_mm256_max_ps(v.v, acc.v), v.v, _mm256_cmp_ps(v.v, v.v, _CMP_UNORD_Q))};
}
inline F32 sub(F32 a, F32 b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline F32 relu(F32 v) { return {_mm256_max_ps(_mm256_setzero_ps(), v.v)}; }
inline F32 keep_where_positive(F32 gate, F32 v) {
  return {_mm256_and_ps(_mm256_cmp_ps(gate.v, _mm256_setzero_ps(), _CMP_GT_OQ), v.v)};
}
inline double sum_in_double(F32 v) {
  const __m256d four =
      _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v.v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v.v, 1)));
  const __m128d two = _mm_add_pd(_mm256_castpd256_pd128(four), _mm256_extractf128_pd(four, 1));
  return _mm_cvtsd_f64(_mm_add_sd(two, _mm_unpackhi_pd(two, two)));
}

#elif defined(__GNUC__) || defined(__clang__)

struct F32 {
  static constexpr int kWidth = 4;
  typedef float Vec __attribute__((vector_size(16), aligned(16)));
  typedef float UnalignedVec __attribute__((vector_size(16), aligned(4)));
  Vec v;
  static F32 zero() { return {Vec{0, 0, 0, 0}}; }
  static F32 splat(float x) { return {Vec{x, x, x, x}}; }
  static F32 broadcast(const float* p) { return splat(*p); }
  static F32 load(const float* p) { return {*reinterpret_cast<const Vec*>(p)}; }
  static F32 loadu(const float* p) { return {*reinterpret_cast<const UnalignedVec*>(p)}; }
  static F32 load_first(const float* p, int n) {
    F32 r = zero();
    for (int j = 0; j < n; ++j) r.v[j] = p[j];
    return r;
  }
  void storeu(float* p) const { *reinterpret_cast<UnalignedVec*>(p) = v; }
  void store_first(float* p, int n) const {
    for (int j = 0; j < n; ++j) p[j] = v[j];
  }
  F32 pick_every(int first, int step) const {
    F32 r = zero();
    for (int k = 0; first + k * step < kWidth; ++k) r.v[k] = v[first + k * step];
    return r;
  }
};
inline F32 mul(F32 a, F32 b) { return {a.v * b.v}; }
inline F32 add(F32 a, F32 b) { return {a.v + b.v}; }
inline F32 div(F32 a, F32 b) { return {a.v / b.v}; }
inline F32 fmadd(F32 a, F32 b, F32 c) { return {a.v * b.v + c.v}; }
struct LaneMap {
  int from[4];  // -1: zero
};
inline LaneMap lane_map(const int* from) {
  LaneMap m;
  for (int k = 0; k < 4; ++k) m.from[k] = from[k] >= 0 && from[k] < 8 ? from[k] : -1;
  return m;
}
inline F32 remap(F32 a, F32 b, const LaneMap& m) {
  F32 r = F32::zero();
  for (int k = 0; k < 4; ++k) r.v[k] = m.from[k] < 0 ? 0.0f : m.from[k] < 4 ? a.v[m.from[k]] : b.v[m.from[k] - 4];
  return r;
}
inline F32 max_scan(F32 acc, F32 v) { return {(v.v > acc.v) | (v.v != v.v) ? v.v : acc.v}; }
inline F32 sub(F32 a, F32 b) { return {a.v - b.v}; }
inline F32 relu(F32 v) { return {v.v < 0.0f ? F32::zero().v : v.v}; }
inline F32 keep_where_positive(F32 gate, F32 v) { return {gate.v > 0.0f ? v.v : F32::zero().v}; }
inline double sum_in_double(F32 v) {
  return (static_cast<double>(v.v[0]) + v.v[2]) + (static_cast<double>(v.v[1]) + v.v[3]);
}

#else

struct F32 {
  static constexpr int kWidth = 1;
  float v;
  static F32 zero() { return {0.0f}; }
  static F32 splat(float x) { return {x}; }
  static F32 broadcast(const float* p) { return {*p}; }
  static F32 load(const float* p) { return {*p}; }
  static F32 loadu(const float* p) { return {*p}; }
  static F32 load_first(const float* p, int n) { return {n > 0 ? *p : 0.0f}; }
  void storeu(float* p) const { *p = v; }
  void store_first(float* p, int n) const {
    if (n > 0) *p = v;
  }
  F32 pick_every(int first, int step) const { return *this; }  // first is 0: the only lane
};
inline F32 mul(F32 a, F32 b) { return {a.v * b.v}; }
inline F32 add(F32 a, F32 b) { return {a.v + b.v}; }
inline F32 div(F32 a, F32 b) { return {a.v / b.v}; }
inline F32 fmadd(F32 a, F32 b, F32 c) { return {a.v * b.v + c.v}; }
struct LaneMap {
  int from;
};
inline LaneMap lane_map(const int* from) { return {from[0]}; }
inline F32 remap(F32 a, F32 b, const LaneMap& m) { return {m.from == 0 ? a.v : m.from == 1 ? b.v : 0.0f}; }
inline F32 max_scan(F32 acc, F32 v) { return {(v.v > acc.v || v.v != v.v) ? v.v : acc.v}; }
inline F32 sub(F32 a, F32 b) { return {a.v - b.v}; }
inline F32 relu(F32 v) { return {v.v < 0.0f ? 0.0f : v.v}; }
inline F32 keep_where_positive(F32 gate, F32 v) { return {gate.v > 0.0f ? v.v : 0.0f}; }
inline double sum_in_double(F32 v) { return v.v; }

#endif

// remap with one source: lanes mapped past it are zeros.
inline F32 remap(F32 v, const LaneMap& m) { return remap(v, F32::zero(), m); }

// The vector at p: whole (kWhole), or its first n lanes and zeros. For loops whose last vector of
// a row is partial and whose products must not see what lies past the row (0 x inf is NaN).
template <bool kWhole>
F32 load_whole_or_first(const float* p, int n) {
  if (kWhole) return F32::loadu(p);
  return F32::load_first(p, n);
}

// A hint to pull the cache line of p towards L1 (a no-op where the compiler has no builtin).
inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 0, 3);
#else
  (void)p;
#endif
}

}  // namespace
}  // namespace lanes
}  // namespace flexconv
