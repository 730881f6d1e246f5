// The loops of dynamic_conv2d.cc compiled for AVX512 (this file name gives it those flags in
// CMakeLists.txt); called only after run-time detection.
#include <cstdint>

#include "cpu/dynamic_conv2d_kernels.h"

namespace flexconv {
namespace cpu {
namespace {
#include "cpu/dynamic_conv2d_body.h"
}  // namespace

void dynamic_mix_avx512(std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                        std::int64_t offset, float* w) {
  mix_range(K, len, a, parts, offset, w);
}

void dynamic_reduce_avx512(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                           const float* g_rows, const float* e_rows, float* ge_rows, float* dots) {
  reduce_block(n, K, len, stride, a, g_rows, e_rows, ge_rows, dots);
}

}  // namespace cpu
}  // namespace flexconv
