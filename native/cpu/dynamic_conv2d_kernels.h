// The element loops of dynamic convolution, compiled once per instruction set
// (cpu/dynamic_conv2d_isa.cc, core/isa.h); dynamic_conv2d.cc picks the copy for this CPU.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

// dynamic_mix mixes `samples` (1 or 2) kernels at once:
//   w[s][0, len) = sum_k a[s * K + k] * parts[k][offset + (0, len)].
// dynamic_reduce, for the n samples s (kernel gradient rows g_rows + s * stride) over one block
// of len columns: ge_rows[k * stride + (0, len)] += a[s * K + k] * g_s (s in order; skipped when
// ge_rows is null) and dots[s * K + k] = <g_s, e_rows[k * stride + (0, len)]>.
#define FLEXCONV_DYNAMIC_CONV2D_ISA_API                                                                      \
  void dynamic_mix(int samples, std::int64_t K, std::int64_t len, const float* a, const float* const* parts, \
                   std::int64_t offset, float* const* w);                                                    \
  void dynamic_reduce(std::int64_t n, std::int64_t K, std::int64_t len, std::int64_t stride, const float* a, \
                      const float* g_rows, const float* e_rows, float* ge_rows, float* dots);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_DYNAMIC_CONV2D_ISA_API)
#undef FLEXCONV_DYNAMIC_CONV2D_ISA_API

}  // namespace cpu
}  // namespace flexconv
