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
}  // namespace

// Four vectors (64 floats) of w at a time: four independent FMA chains over the K parts.
void dynamic_mix_avx512(std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                        std::int64_t offset, float* w) {
  const float* first = parts[0] + offset;
  const __m512 a0 = _mm512_set1_ps(a[0]);
  std::int64_t d = 0;
  for (; d + 64 <= len; d += 64) {
    __m512 acc0 = _mm512_mul_ps(a0, _mm512_loadu_ps(first + d));
    __m512 acc1 = _mm512_mul_ps(a0, _mm512_loadu_ps(first + d + 16));
    __m512 acc2 = _mm512_mul_ps(a0, _mm512_loadu_ps(first + d + 32));
    __m512 acc3 = _mm512_mul_ps(a0, _mm512_loadu_ps(first + d + 48));
    for (std::int64_t k = 1; k < K; ++k) {
      const __m512 ak = _mm512_set1_ps(a[k]);
      const float* e = parts[k] + offset + d;
      acc0 = _mm512_fmadd_ps(ak, _mm512_loadu_ps(e), acc0);
      acc1 = _mm512_fmadd_ps(ak, _mm512_loadu_ps(e + 16), acc1);
      acc2 = _mm512_fmadd_ps(ak, _mm512_loadu_ps(e + 32), acc2);
      acc3 = _mm512_fmadd_ps(ak, _mm512_loadu_ps(e + 48), acc3);
    }
    _mm512_storeu_ps(w + d, acc0);
    _mm512_storeu_ps(w + d + 16, acc1);
    _mm512_storeu_ps(w + d + 32, acc2);
    _mm512_storeu_ps(w + d + 48, acc3);
  }
  // The rest one (possibly partial, masked) vector at a time, with the same arithmetic.
  for (; d < len; d += 16) {
    const __mmask16 m = len - d >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (len - d)) - 1u);
    __m512 acc = _mm512_mul_ps(a0, _mm512_maskz_loadu_ps(m, first + d));
    for (std::int64_t k = 1; k < K; ++k) {
      acc = _mm512_fmadd_ps(_mm512_set1_ps(a[k]), _mm512_maskz_loadu_ps(m, parts[k] + offset + d), acc);
    }
    _mm512_mask_storeu_ps(w + d, m, acc);
  }
}

void dynamic_reduce_avx512(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                           const float* g_rows, const float* e_rows, float* ge_rows, float* dots) {
  reduce_block(n, K, len, stride, a, g_rows, e_rows, ge_rows, dots);
}

}  // namespace cpu
}  // namespace flexconv
