// The element loops of dynamic convolution, compiled once per instruction set
// (cpu/dynamic_conv2d_isa.cc, core/isa.h); dynamic_conv2d.cc picks the copy for this CPU.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

// A block of the per-sample kernel gradients and the same block of every expert and expert
// gradient: `rows` rows of `len` floats; sample s's row r starts at g + s * g_stride + r * g_ld,
// expert k's at e + k * e_stride + r * e_ld, expert k's gradient's at ge + k * ge_stride +
// r * ge_ld.
struct ReduceBlock {
  std::int64_t rows, len, g_ld, g_stride, e_ld, e_stride, ge_ld, ge_stride;
};

// dynamic_mix mixes `samples` (1 to 4) kernels at once:
//   w[s][0, len) = sum_k a[s * K + k] * parts[k][offset + (0, len)].
// dynamic_reduce, for the n samples s over one block:
//   ge[k] += a[s * K + k] * g_s   (s in order; skipped when ge_rows is null)
//   dots[s * K + k] = <g_s, e[k]>
#define FLEXCONV_DYNAMIC_CONV2D_ISA_API                                                                            \
  void dynamic_mix(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts,       \
                   std::int64_t offset, float* const* w);                                                          \
  void dynamic_reduce(std::int64_t n, std::int64_t K, const ReduceBlock& blk, const float* a, const float* g_rows, \
                      const float* e_rows, float* ge_rows, float* dots);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_DYNAMIC_CONV2D_ISA_API)
#undef FLEXCONV_DYNAMIC_CONV2D_ISA_API

}  // namespace cpu
}  // namespace flexconv
