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
}  // namespace

// Four vectors (32 floats) of w at a time: four independent FMA chains over the K parts.
void dynamic_mix_avx2(std::int64_t K, std::int64_t len, const float* a, const float* const* parts, std::int64_t offset,
                      float* w) {
  const float* first = parts[0] + offset;
  const __m256 a0 = _mm256_set1_ps(a[0]);
  std::int64_t d = 0;
  for (; d + 32 <= len; d += 32) {
    __m256 acc0 = _mm256_mul_ps(a0, _mm256_loadu_ps(first + d));
    __m256 acc1 = _mm256_mul_ps(a0, _mm256_loadu_ps(first + d + 8));
    __m256 acc2 = _mm256_mul_ps(a0, _mm256_loadu_ps(first + d + 16));
    __m256 acc3 = _mm256_mul_ps(a0, _mm256_loadu_ps(first + d + 24));
    for (std::int64_t k = 1; k < K; ++k) {
      const __m256 ak = _mm256_set1_ps(a[k]);
      const float* e = parts[k] + offset + d;
      acc0 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(e), acc0);
      acc1 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(e + 8), acc1);
      acc2 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(e + 16), acc2);
      acc3 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(e + 24), acc3);
    }
    _mm256_storeu_ps(w + d, acc0);
    _mm256_storeu_ps(w + d + 8, acc1);
    _mm256_storeu_ps(w + d + 16, acc2);
    _mm256_storeu_ps(w + d + 24, acc3);
  }
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

void dynamic_reduce_avx2(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                         const float* g_rows, const float* e_rows, float* ge_rows, float* dots) {
  reduce_block(n, K, len, stride, a, g_rows, e_rows, ge_rows, dots);
}

}  // namespace cpu
}  // namespace flexconv
