// The unary loops compiled per instruction set (see elementwise_unary_body.h); elementwise.cc
// picks one by core/cpu_features.h's active ISA. Only call the AVX variants on a CPU that has them.
#pragma once
#include <cstdint>

namespace flexconv {
namespace cpu {

void unary_range_avx2(int op, const float* x, float* y, std::int64_t begin, std::int64_t end, float a, float b);
void unary_backward_range_avx2(int op, const float* g, const float* x, const float* y, float* gx, std::int64_t begin,
                               std::int64_t end, float a, float b);
void unary_range_avx512(int op, const float* x, float* y, std::int64_t begin, std::int64_t end, float a, float b);
void unary_backward_range_avx512(int op, const float* g, const float* x, const float* y, float* gx,
                                 std::int64_t begin, std::int64_t end, float a, float b);

}  // namespace cpu
}  // namespace flexconv
