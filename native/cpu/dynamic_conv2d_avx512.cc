// The loops of dynamic_conv2d.cc compiled for AVX512 (this file name gives it those flags in
// CMakeLists.txt); called only after run-time detection. The mixing loop is written with
// intrinsics: compiled from dynamic_conv2d_body.h, GCC split its 16 lanes into 256-bit,
// 128-bit and scalar pieces, and its chain of K dependent FMAs per vector waited on the FMA
// latency (the intrinsics mix a B128 8x8 batch's kernels in 1.2 ms instead of 1.65 ms). The
// reduction is compiled from the body: it is bound by memory, and intrinsics measured no
// faster.
#include <immintrin.h>

#include <cstdint>

#include "cpu/dynamic_conv2d_kernels.h"

namespace flexconv {
namespace cpu {
namespace {

#include "cpu/dynamic_conv2d_body.h"

// Four vectors (64 floats) of each sample's w at a time: four independent FMA chains over the
// K parts per sample. Mixing S samples per pass loads each expert vector once for all S: the
// packed experts of a deep layer exceed L2 (4 x 288 KB for 64 -> 128 3x3), so for one sample
// at a time the loop streamed them from L3. Each sample's floats are computed the same way
// whatever S is.
template <int S>
void mix_vectors(std::int64_t K, std::int64_t len, const float* a, const float* const* parts, std::int64_t offset,
                 float* const* w, std::int64_t* done) {
  const float* first = parts[0] + offset;
  std::int64_t d = 0;
  for (; d + 64 <= len; d += 64) {
    __m512 acc[S][4];
    const __m512 x0 = _mm512_loadu_ps(first + d), x1 = _mm512_loadu_ps(first + d + 16);
    const __m512 x2 = _mm512_loadu_ps(first + d + 32), x3 = _mm512_loadu_ps(first + d + 48);
    for (int s = 0; s < S; ++s) {
      const __m512 a0 = _mm512_set1_ps(a[s * K]);
      acc[s][0] = _mm512_mul_ps(a0, x0);
      acc[s][1] = _mm512_mul_ps(a0, x1);
      acc[s][2] = _mm512_mul_ps(a0, x2);
      acc[s][3] = _mm512_mul_ps(a0, x3);
    }
    for (std::int64_t k = 1; k < K; ++k) {
      const float* e = parts[k] + offset + d;
      const __m512 e0 = _mm512_loadu_ps(e), e1 = _mm512_loadu_ps(e + 16), e2 = _mm512_loadu_ps(e + 32),
                   e3 = _mm512_loadu_ps(e + 48);
      for (int s = 0; s < S; ++s) {
        const __m512 ak = _mm512_set1_ps(a[s * K + k]);
        acc[s][0] = _mm512_fmadd_ps(ak, e0, acc[s][0]);
        acc[s][1] = _mm512_fmadd_ps(ak, e1, acc[s][1]);
        acc[s][2] = _mm512_fmadd_ps(ak, e2, acc[s][2]);
        acc[s][3] = _mm512_fmadd_ps(ak, e3, acc[s][3]);
      }
    }
    for (int s = 0; s < S; ++s) {
      _mm512_storeu_ps(w[s] + d, acc[s][0]);
      _mm512_storeu_ps(w[s] + d + 16, acc[s][1]);
      _mm512_storeu_ps(w[s] + d + 32, acc[s][2]);
      _mm512_storeu_ps(w[s] + d + 48, acc[s][3]);
    }
  }
  *done = d;
}

}  // namespace

void dynamic_mix_avx512(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                        std::int64_t offset, float* const* ws) {
  std::int64_t start = 0;
  if (samples == 2) {
    mix_vectors<2>(K, len, a, parts, offset, ws, &start);
  } else {
    mix_vectors<1>(K, len, a, parts, offset, ws, &start);
  }
  const float* first = parts[0] + offset;
  for (int s = 0; s < samples; ++s, a += K) {
    float* w = ws[s];
    const __m512 a0 = _mm512_set1_ps(a[0]);
    std::int64_t d = start;
    // The rest one (possibly partial, masked) vector at a time, with the same arithmetic.
    for (; d < len; d += 16) {
      const __mmask16 m =
          len - d >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (len - d)) - 1u);
      __m512 acc = _mm512_mul_ps(a0, _mm512_maskz_loadu_ps(m, first + d));
      for (std::int64_t k = 1; k < K; ++k) {
        acc = _mm512_fmadd_ps(_mm512_set1_ps(a[k]), _mm512_maskz_loadu_ps(m, parts[k] + offset + d), acc);
      }
      _mm512_mask_storeu_ps(w + d, m, acc);
    }
  }
}

void dynamic_reduce_avx512(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                           const float* g_rows, const float* e_rows, float* ge_rows, float* dots) {
  reduce_block(n, K, len, stride, a, g_rows, e_rows, ge_rows, dots);
}

}  // namespace cpu
}  // namespace flexconv
