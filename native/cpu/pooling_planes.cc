// Portable build of the per-plane pooling kernels (see pooling_planes.inc).
#include "cpu/pooling_planes.h"

namespace flexconv {
namespace cpu {
namespace portable {
#include "cpu/pooling_planes.inc"
}  // namespace portable
}  // namespace cpu
}  // namespace flexconv
