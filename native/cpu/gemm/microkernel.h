// Micro-kernels: C[mr x nr] = alpha * (A panel * B panel) + beta * C over one kc block.
// One source (microkernel_isa.cc) compiled per instruction set; the driver picks the copy for
// the active ISA.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace gemm {

// a: kc x mr packed panel, b: kc x nr packed panel. Only the top-left m x n corner of the
// tile is stored to C (edge tiles); beta == 0 means C is not read.
using MicroKernelFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                               float beta, int m, int n);

struct MicroKernel {
  int mr;
  int nr;
  int lanes;  // columns per vector register (nr is a multiple): an edge tile of a multiple wastes no lanes
  MicroKernelFn fn;
};

// The kernel of `isa` (only valid when the CPU supports it: active_isa() or below).
MicroKernel kernel_for(Isa isa);

}  // namespace gemm

namespace cpu {
#define FLEXCONV_GEMM_MICROKERNEL_API gemm::MicroKernel gemm_microkernel();
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_GEMM_MICROKERNEL_API)
}  // namespace cpu
}  // namespace flexconv
