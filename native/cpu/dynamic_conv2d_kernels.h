// The loops of dynamic_conv2d_body.h compiled per instruction set; dynamic_conv2d.cc picks
// one by core/cpu_features.h's active ISA. Only call the AVX variants on a CPU that has them.
#pragma once
#include <cstdint>

namespace flexconv {
namespace cpu {

// Mixes `samples` (1 or 2) kernels at once: w[s][0, len) = sum_k a[s * K + k] * parts[k][offset + (0, len)].
using DynamicMixFn = void (*)(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                              std::int64_t offset, float* const* w);
using DynamicReduceFn = void (*)(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                                 const float* g_rows, const float* e_rows, float* ge_rows, float* dots);

void dynamic_mix_avx2(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                      std::int64_t offset, float* const* w);
void dynamic_reduce_avx2(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                         const float* g_rows, const float* e_rows, float* ge_rows, float* dots);
void dynamic_mix_avx512(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,
                        std::int64_t offset, float* const* w);
void dynamic_reduce_avx512(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a,
                           const float* g_rows, const float* e_rows, float* ge_rows, float* dots);

}  // namespace cpu
}  // namespace flexconv
