// AVX2 + FMA build of the per-plane pooling kernels (see pooling_planes.inc); only called
// after run-time detection.
#include "cpu/pooling_planes.h"

namespace flexconv {
namespace cpu {
namespace avx2 {
#include "cpu/pooling_planes.inc"
}  // namespace avx2
}  // namespace cpu
}  // namespace flexconv
