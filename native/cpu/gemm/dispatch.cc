#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {

MicroKernel kernel_for(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return avx512_kernel();
    case Isa::Avx2: return avx2_kernel();
    case Isa::Portable: return portable_kernel();
  }
  return portable_kernel();
}

}  // namespace gemm
}  // namespace flexconv
