// Per-plane forward kernels of max and average pooling, compiled twice from
// pooling_planes.inc: once portable (pooling_planes.cc) and once with AVX2 + FMA
// (pooling_planes_avx2.cc); cpu/pooling.cc picks one at run time (core/cpu_features.h).
#pragma once
#include <cstdint>

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

// scratch: pool_scratch_floats(shape) floats per thread (the same in both builds).
namespace portable {
std::int64_t pool_scratch_floats(const PoolShape& s);
void max_pool_plane(const PoolPlaneArgs& a, const float* x, float* y, std::int32_t* indices, float* scratch);
void avg_pool_plane(const PoolPlaneArgs& a, const float* x, float* y, float* scratch);
}  // namespace portable

namespace avx2 {
std::int64_t pool_scratch_floats(const PoolShape& s);
void max_pool_plane(const PoolPlaneArgs& a, const float* x, float* y, std::int32_t* indices, float* scratch);
void avg_pool_plane(const PoolPlaneArgs& a, const float* x, float* y, float* scratch);
}  // namespace avx2

}  // namespace cpu
}  // namespace flexconv
