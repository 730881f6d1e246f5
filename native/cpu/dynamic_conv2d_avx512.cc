// The loops of dynamic_conv2d.cc compiled for AVX512 (this file name gives it those flags in
// CMakeLists.txt); called only after run-time detection. Mixing: dynamic_conv2d_mix_simd.h on
// 16-float registers; the reduction is compiled from dynamic_conv2d_body.h (it is bound by
// memory, and intrinsics measured no faster).
#include <immintrin.h>

#include <cstdint>

#include "cpu/dynamic_conv2d_kernels.h"

namespace flexconv {
namespace cpu {
namespace {
#include "cpu/dynamic_conv2d_body.h"
#include "cpu/dynamic_conv2d_mix_simd.h"

struct Avx512Lanes {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr int kWidth = 16;
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg set1(float x) { return _mm512_set1_ps(x); }
  static Reg mul(Reg x, Reg y) { return _mm512_mul_ps(x, y); }
  static Reg fmadd(Reg x, Reg y, Reg z) { return _mm512_fmadd_ps(x, y, z); }
  static Mask first(std::int64_t n) {
    return n >= kWidth ? static_cast<Mask>(0xFFFF) : static_cast<Mask>((1u << n) - 1u);
  }
  // Masked-off lanes are neither read nor faulted on.
  static Reg load_masked(Mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static void store_masked(float* p, Mask m, Reg v) { _mm512_mask_storeu_ps(p, m, v); }
};

}  // namespace

void dynamic_mix_avx512(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                        std::int64_t offset, float* const* ws) {
  mix_simd<Avx512Lanes>(samples, K, len, a, parts, offset, ws);
}

void dynamic_reduce_avx512(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                           const float* g_rows, const float* e_rows, float* ge_rows, float* dots) {
  reduce_block(n, K, len, stride, a, g_rows, e_rows, ge_rows, dots);
}

}  // namespace cpu
}  // namespace flexconv
