// The loops of dynamic_conv2d.cc compiled for AVX2 (this file name gives it those flags in
// CMakeLists.txt); called only after run-time detection. The mixing loop is written with
// intrinsics for the reasons given in dynamic_conv2d_avx512.cc; the reduction is compiled
// from dynamic_conv2d_body.h.
#include <immintrin.h>

#include <cstdint>

#include "cpu/dynamic_conv2d_kernels.h"

namespace flexconv {
namespace cpu {
namespace {
#include "cpu/dynamic_conv2d_body.h"

// Four vectors (32 floats) of each sample's w at a time: four independent FMA chains over the
// K parts per sample. Mixing S samples per pass loads each expert vector once for all S: the
// packed experts of a deep layer exceed L2 (4 x 288 KB for 64 -> 128 3x3), so for one sample
// at a time the loop streamed them from L3. Each sample's floats are computed the same way
// whatever S is.
template <int S>
void mix_vectors(std::int64_t K, std::int64_t len, const float* a, const float* const* parts, std::int64_t offset,
                 float* const* w, std::int64_t* done) {
  const float* first = parts[0] + offset;
  std::int64_t d = 0;
  for (; d + 32 <= len; d += 32) {
    __m256 acc[S][4];
    const __m256 x0 = _mm256_loadu_ps(first + d), x1 = _mm256_loadu_ps(first + d + 8);
    const __m256 x2 = _mm256_loadu_ps(first + d + 16), x3 = _mm256_loadu_ps(first + d + 24);
    for (int s = 0; s < S; ++s) {
      const __m256 a0 = _mm256_set1_ps(a[s * K]);
      acc[s][0] = _mm256_mul_ps(a0, x0);
      acc[s][1] = _mm256_mul_ps(a0, x1);
      acc[s][2] = _mm256_mul_ps(a0, x2);
      acc[s][3] = _mm256_mul_ps(a0, x3);
    }
    for (std::int64_t k = 1; k < K; ++k) {
      const float* e = parts[k] + offset + d;
      const __m256 e0 = _mm256_loadu_ps(e), e1 = _mm256_loadu_ps(e + 8), e2 = _mm256_loadu_ps(e + 16),
                   e3 = _mm256_loadu_ps(e + 24);
      for (int s = 0; s < S; ++s) {
        const __m256 ak = _mm256_set1_ps(a[s * K + k]);
        acc[s][0] = _mm256_fmadd_ps(ak, e0, acc[s][0]);
        acc[s][1] = _mm256_fmadd_ps(ak, e1, acc[s][1]);
        acc[s][2] = _mm256_fmadd_ps(ak, e2, acc[s][2]);
        acc[s][3] = _mm256_fmadd_ps(ak, e3, acc[s][3]);
      }
    }
    for (int s = 0; s < S; ++s) {
      _mm256_storeu_ps(w[s] + d, acc[s][0]);
      _mm256_storeu_ps(w[s] + d + 8, acc[s][1]);
      _mm256_storeu_ps(w[s] + d + 16, acc[s][2]);
      _mm256_storeu_ps(w[s] + d + 24, acc[s][3]);
    }
  }
  *done = d;
}

}  // namespace

void dynamic_mix_avx2(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
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
    const __m256 a0 = _mm256_set1_ps(a[0]);
    std::int64_t d = start;
    // The rest one (possibly partial, masked) vector at a time, with the same arithmetic.
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (; d < len; d += 8) {
      const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(len - d < 8 ? len - d : 8)), lane);
      __m256 acc = _mm256_mul_ps(a0, _mm256_maskload_ps(first + d, m));
      for (std::int64_t k = 1; k < K; ++k) {
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[k]), _mm256_maskload_ps(parts[k] + offset + d, m), acc);
      }
      _mm256_maskstore_ps(w + d, m, acc);
    }
  }
}

void dynamic_reduce_avx2(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                         const float* g_rows, const float* e_rows, float* ge_rows, float* dots) {
  reduce_block(n, K, len, stride, a, g_rows, e_rows, ge_rows, dots);
}

}  // namespace cpu
}  // namespace flexconv
