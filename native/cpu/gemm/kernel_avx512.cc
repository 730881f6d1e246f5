// AVX-512 micro-kernel. Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl (this file only) and called only after
// run-time detection says the CPU has them.
// TODO(gemm owner): register-blocked intrinsics kernel; for now the portable arithmetic
// compiled for AVX-512.
#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {
namespace {

constexpr int kMr = 8;
constexpr int kNr = 32;

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
            float beta, int m, int n) {
  float acc[kMr][kNr] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* ak = a + k * kMr;
    const float* bk = b + k * kNr;
    for (int i = 0; i < kMr; ++i) {
      for (int j = 0; j < kNr; ++j) acc[i][j] += ak[i] * bk[j];
    }
  }
  for (int i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < n; ++j) ci[j] = alpha * acc[i][j] + (beta == 0.0f ? 0.0f : beta * ci[j]);
  }
}

}  // namespace

MicroKernel avx512_kernel() { return {kMr, kNr, &kernel}; }

}  // namespace gemm
}  // namespace flexconv
