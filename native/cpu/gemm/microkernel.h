// Micro-kernels: C[mr x nr] = alpha * (A panel * B panel) + beta * C over one kc block.
// Each ISA provides one; the driver picks the table entry for the active ISA.
#pragma once
#include <cstdint>

#include "core/cpu_features.h"

namespace flexconv {
namespace gemm {

// a: kc x mr packed panel, b: kc x nr packed panel. Only the top-left m x n corner of the
// tile is stored to C (edge tiles); beta == 0 means C is not read.
using MicroKernelFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                               float beta, int m, int n);

struct MicroKernel {
  int mr;
  int nr;
  MicroKernelFn fn;
};

MicroKernel portable_kernel();
MicroKernel avx2_kernel();    // only valid when the CPU supports AVX2 + FMA
MicroKernel avx512_kernel();  // only valid when the CPU supports AVX-512F

MicroKernel kernel_for(Isa isa);

}  // namespace gemm
}  // namespace flexconv
