// Per-plane forward kernels of max and average pooling, compiled once per instruction set
// (cpu/pooling_planes_isa.cc, core/isa.h); cpu/pooling.cc picks the copy for this CPU.
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "ops/pooling.h"

namespace flexconv {
namespace cpu {

struct PoolPlaneArgs {
  const PoolShape* s;
  // avg only: the divisor of every output is div_h[oh] * div_w[ow]. Precomputed by the caller
  // so that these ISA-specific files call no inline helper shared with other files (an
  // inline function compiled with AVX2 here could be the copy the linker keeps for the
  // portable code too).
  // (Floats, exact for window sizes below 2^24, so the divide loop vectorises.)
  const float* div_h;
  const float* div_w;
};

// scratch: pool_scratch_floats(shape, max pooling with indices) floats per thread (the same in
// every copy).
#define FLEXCONV_POOLING_PLANES_ISA_API                                                                         \
  std::int64_t pool_scratch_floats(const PoolShape& s, bool max_with_indices);                                  \
  void max_pool_planes(const PoolPlaneArgs& a, const float* x, float* y, std::int32_t* indices, float* scratch, \
                       std::int64_t count);                                                                     \
  void avg_pool_planes(const PoolPlaneArgs& a, const float* x, float* y, float* scratch, std::int64_t count);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_POOLING_PLANES_ISA_API)
#undef FLEXCONV_POOLING_PLANES_ISA_API

}  // namespace cpu
}  // namespace flexconv
