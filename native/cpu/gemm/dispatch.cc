#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {

MicroKernel kernel_for(Isa isa) {
  using namespace cpu;  // the per-ISA copies live in cpu::isa_<set>
  return FLEXCONV_ISA_COPY(isa, gemm_microkernel)();
}

}  // namespace gemm
}  // namespace flexconv
