#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {

MicroKernel kernel_for(Isa isa) {
  if constexpr (kHasX86Kernels) {
    if (isa == Isa::Avx512) return avx512_kernel();
    if (isa == Isa::Avx2) return avx2_kernel();
  }
  return portable_kernel();
}

}  // namespace gemm
}  // namespace flexconv
