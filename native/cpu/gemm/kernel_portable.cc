// Portable micro-kernel: the fallback for CPUs without AVX2 (and the kernel of ARM builds).
//
// Written with GCC/Clang generic vectors (4 floats), which become SSE on x86-64 and NEON on
// AArch64 without any intrinsics. Tile 6 x 8: 12 vector accumulators, 2 for the B row and
// one broadcast register fit the 16 registers of SSE2 (NEON has 32). Edge tiles run an
// instantiation of their exact row count so loops keep compile-time trip counts and the
// accumulators stay in registers. Compilers without vector extensions get the scalar loop.
#include "cpu/gemm/microkernel.h"

namespace flexconv {
namespace gemm {
namespace {

constexpr int kMr = 6;
constexpr int kNr = 8;

#if defined(__GNUC__) || defined(__clang__)
typedef float v4 __attribute__((vector_size(16), aligned(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4)));  // unaligned access to C

template <int MR>
void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int n) {
  v4 acc[MR][2];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = v4{0, 0, 0, 0};
  for (int64_t k = 0; k < kc; ++k) {
    const v4 b0 = *reinterpret_cast<const v4*>(b + k * kNr);
    const v4 b1 = *reinterpret_cast<const v4*>(b + k * kNr + 4);
    const float* ak = a + k * kMr;
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const v4 ai = v4{ak[i], ak[i], ak[i], ak[i]};
      acc[i][0] += ai * b0;
      acc[i][1] += ai * b1;
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (n == kNr) {
      v4 r0 = alpha * acc[i][0], r1 = alpha * acc[i][1];
      if (beta != 0.0f) {
        r0 += beta * *reinterpret_cast<v4u*>(ci);
        r1 += beta * *reinterpret_cast<v4u*>(ci + 4);
      }
      *reinterpret_cast<v4u*>(ci) = r0;
      *reinterpret_cast<v4u*>(ci + 4) = r1;
    } else {
      for (int j = 0; j < n; ++j) {
        const float v = alpha * acc[i][j >> 2][j & 3];
        ci[j] = beta == 0.0f ? v : v + beta * ci[j];
      }
    }
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, float*, int64_t, float, float, int);
const TileFn kTiles[kMr] = {&tile<1>, &tile<2>, &tile<3>, &tile<4>, &tile<5>, &tile<6>};

void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int m, int n) {
  kTiles[m - 1](kc, a, b, c, ldc, alpha, beta, n);
}
#else
void kernel(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta, int m, int n) {
  float acc[kMr][kNr] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int i = 0; i < kMr; ++i) {
      for (int j = 0; j < kNr; ++j) acc[i][j] += a[k * kMr + i] * b[k * kNr + j];
    }
  }
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      const float v = alpha * acc[i][j];
      c[i * ldc + j] = beta == 0.0f ? v : v + beta * c[i * ldc + j];
    }
  }
}
#endif

}  // namespace

MicroKernel portable_kernel() { return {kMr, kNr, &kernel}; }

}  // namespace gemm
}  // namespace flexconv
