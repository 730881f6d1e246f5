// The loops of dynamic_conv2d.cc compiled for AVX2 (this file name gives it those flags in
// CMakeLists.txt); called only after run-time detection. Mixing: dynamic_conv2d_mix_simd.h on
// 8-float registers; the reduction is compiled from dynamic_conv2d_body.h.
#include <immintrin.h>

#include <cstdint>

#include "cpu/dynamic_conv2d_kernels.h"

namespace flexconv {
namespace cpu {
namespace {
#include "cpu/dynamic_conv2d_body.h"
#include "cpu/dynamic_conv2d_mix_simd.h"

struct Avx2Lanes {
  using Reg = __m256;
  using Mask = __m256i;
  static constexpr int kWidth = 8;
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg set1(float x) { return _mm256_set1_ps(x); }
  static Reg mul(Reg x, Reg y) { return _mm256_mul_ps(x, y); }
  static Reg fmadd(Reg x, Reg y, Reg z) { return _mm256_fmadd_ps(x, y, z); }
  static Mask first(std::int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n < kWidth ? n : kWidth)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Reg load_masked(Mask m, const float* p) { return _mm256_maskload_ps(p, m); }
  static void store_masked(float* p, Mask m, Reg v) { _mm256_maskstore_ps(p, m, v); }
};

}  // namespace

void dynamic_mix_avx2(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                      std::int64_t offset, float* const* ws) {
  mix_simd<Avx2Lanes>(samples, K, len, a, parts, offset, ws);
}

void dynamic_reduce_avx2(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                         const float* g_rows, const float* e_rows, float* ge_rows, float* dots) {
  reduce_block(n, K, len, stride, a, g_rows, e_rows, ge_rows, dots);
}

}  // namespace cpu
}  // namespace flexconv
