// The 16 x 16 float transpose in AVX-512 registers shared by the AVX-512 packers (include only
// from *_isa.cc files, inside their `#if defined(__AVX512F__)` branches). FLEXCONV_HD forces
// inlining, so no out-of-line copy with AVX-512 instructions can leak into the rest of the addon
// (see math/hd.h).
#pragma once
#include <immintrin.h>

#include "math/hd.h"

namespace flexconv {
namespace cpu {

// In place: lane k of v[j] -> lane j of v[k].
FLEXCONV_HD void transpose16x16(__m512* v) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
  }
  // s[m][q]: lane L holds rows 4q..4q+3 of column 4L + m.
  __m512 s[4][4];
  for (int q = 0; q < 4; ++q) {
    s[0][q] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
    s[1][q] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
    s[2][q] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
    s[3][q] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
  }
  // Column 4L + m gathers lane L of s[m][0..3]: a 4 x 4 transpose of 128-bit lanes.
  for (int m = 0; m < 4; ++m) {
    const __m512 u0 = _mm512_shuffle_f32x4(s[m][0], s[m][1], 0x44), u1 = _mm512_shuffle_f32x4(s[m][0], s[m][1], 0xEE);
    const __m512 u2 = _mm512_shuffle_f32x4(s[m][2], s[m][3], 0x44), u3 = _mm512_shuffle_f32x4(s[m][2], s[m][3], 0xEE);
    v[m] = _mm512_shuffle_f32x4(u0, u2, 0x88);
    v[4 + m] = _mm512_shuffle_f32x4(u0, u2, 0xDD);
    v[8 + m] = _mm512_shuffle_f32x4(u1, u3, 0x88);
    v[12 + m] = _mm512_shuffle_f32x4(u1, u3, 0xDD);
  }
}

namespace {

// 16 x 16 blocks as a type (as TransposeBlock8, cpu/transpose8_avx2.h).
struct TransposeBlock16 {
  static constexpr int kWidth = 16;
  using Vec = __m512;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_load_ps(p); }  // aligned to the vector
  static Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_store_ps(p, v); }
  static void storeu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void transpose(Vec* v) { transpose16x16(v); }
};

}  // namespace

}  // namespace cpu
}  // namespace flexconv
