// Per-plane forward kernels of max and average pooling, compiled twice from
// pooling_planes.inc: once portable (pooling_planes.cc) and once with AVX2 + FMA
// (pooling_planes_avx2.cc); cpu/pooling.cc picks one at run time (core/cpu_features.h).
#pragma once
#include <cstdint>

#include "cpu/pooling.h"

namespace flexconv {
namespace cpu {

// lo[kw], hi[kw]: the output columns for which kernel column kw lands inside the input.
struct PoolPlaneArgs {
  const PoolShape* s;
  const std::int64_t* lo;
  const std::int64_t* hi;
  // avg only: the clipped window rows of every output row and the divisor of every output
  // (row factor times column factor). Precomputed by the caller so that these ISA-specific
  // files call no inline helper shared with other files (an inline function compiled with
  // AVX2 here could be the copy the linker keeps for the portable code too).
  const std::int64_t* h_start;
  const std::int64_t* h_end;
  const std::int64_t* div_h;
  const std::int64_t* div_w;
};

// Floats of scratch max_pool_plane needs.
inline std::int64_t max_pool_scratch_size(const PoolShape& s) { return 6 * (s.out_w + 1); }

namespace portable {
void max_pool_plane(const PoolPlaneArgs& a, const float* x, float* y, std::int32_t* indices, float* scratch);
void avg_pool_plane(const PoolPlaneArgs& a, const float* x, float* y);
}  // namespace portable

namespace avx2 {
void max_pool_plane(const PoolPlaneArgs& a, const float* x, float* y, std::int32_t* indices, float* scratch);
void avg_pool_plane(const PoolPlaneArgs& a, const float* x, float* y);
}  // namespace avx2

}  // namespace cpu
}  // namespace flexconv
