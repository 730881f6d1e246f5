// The GEMM micro-kernel, written once against the lane type of core/lanes.h and compiled once
// per instruction set (core/isa.h): C[m x n] = alpha * (A panel * B panel) + beta * C over one
// kc block, for the tile's top-left m x n corner.
//
// Tile shape per lane width (accumulators + B row + one broadcast within the register file):
//   AVX-512 (16 lanes): 8 rows x 3 vectors = 48 columns, 24 zmm accumulators. 24 independent
//     FMA chains cover the FMA latency on both full-width and double-pumped (Zen 4) cores; each
//     k step issues 3 loads and 8 broadcasts for 24 FMAs; mr = 8 divides the channel counts
//     convolutions use (64, 128, ...).
//   AVX2 (8 lanes): 6 x 2 vectors = 16 columns in 12 ymm, 15 of the 16 registers (Haswell's shape).
//   generic 4-lane vectors (SSE2 / NEON): 6 x 2 vectors = 8 columns, 12 of 16 registers.
//   scalar: 6 x 8.
// Edge tiles are not computed at full size: the tile is instantiated for every row count and
// vector count, so a 5 x 20 corner costs 5 x 32 FMAs, not 8 x 48, and every loop over the tile
// has a compile-time trip count (a run-time row count in the store loop would make GCC keep the
// accumulators in memory). The packed panels keep their full strides (mr, nr).
#include <array>
#include <cstdint>
#include <utility>

#include "core/lanes.h"
#include "cpu/gemm/microkernel.h"

FLEXCONV_ISA_BEGIN
namespace {

using lanes::F32;
constexpr int kLanes = F32::kWidth;
constexpr int kMr = kLanes == 16 ? 8 : 6;
constexpr int kNvMax = kLanes == 1 ? 8 : kLanes == 16 ? 3 : 2;
constexpr int kNr = kNvMax * kLanes;
// How far ahead (in floats, 2 KB) the A stream is prefetched. Packed A is one sequential stream
// (panel after panel, block after block: driver.cc), and when a network's layers run one after
// another at batch 1 (a 4x4 or 8x8 map: one or two tiles per panel) that stream is the
// weights, megabytes of them, from memory: the hardware prefetcher alone held it to ~5 GB/s per
// core, and a 512-channel 3x3 layer on a 4x4 map took 1.8 ms instead of 0.8 ms with its
// weights in cache. Prefetching ~250 cycles ahead (one line per two k steps; the repeats hit
// the fill buffer) brought it to 1.1 ms. Where a panel is reused over many tiles the
// prefetches hit L1 and cost a load slot in a loop bound by its FMAs.
constexpr int kPrefetchA = 512;

// MR rows x NV vectors of the tile; `n` (<= NV * kLanes) columns are stored.
template <int MR, int NV>
void tile(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc, float alpha, float beta, int n) {
  F32 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = F32::zero();
  }
  // Pull the C tile towards L1 while the k loop runs; it is needed only at the end.
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    lanes::prefetch(c + i * ldc);
    if (NV > 1) lanes::prefetch(c + i * ldc + NV * kLanes - 1);
  }
#pragma GCC unroll 4
  for (std::int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * kNr;
    const float* ak = a + k * kMr;
    lanes::prefetch(ak + kPrefetchA);
    F32 bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = F32::load(bk + v * kLanes);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const F32 ai = F32::broadcast(ak + i);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = lanes::fmadd(ai, bv[v], acc[i][v]);
    }
  }
  const F32 va = F32::splat(alpha), vb = F32::splat(beta);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      float* cv = c + i * ldc + v * kLanes;
      const int left = n - v * kLanes;
      F32 r = lanes::mul(va, acc[i][v]);
      // beta == 0 must not read C (it may hold NaN).
      if (left >= kLanes) {
        if (beta != 0.0f) r = lanes::fmadd(vb, F32::loadu(cv), r);
        r.storeu(cv);
      } else {
        if (beta != 0.0f) r = lanes::fmadd(vb, F32::load_first(cv, left), r);
        r.store_first(cv, left);
      }
    }
  }
}

using TileFn = void (*)(std::int64_t, const float*, const float*, float*, std::int64_t, float, float, int);
using TileRow = std::array<TileFn, kNvMax>;

template <int MR, int... V>
constexpr TileRow tile_row(std::integer_sequence<int, V...>) {
  return {&tile<MR, V + 1>...};
}
template <int... M>
constexpr std::array<TileRow, kMr> tile_table(std::integer_sequence<int, M...>) {
  return {tile_row<M + 1>(std::make_integer_sequence<int, kNvMax>())...};
}
// [m - 1][vectors - 1]
constexpr std::array<TileRow, kMr> kTiles = tile_table(std::make_integer_sequence<int, kMr>());

void kernel(std::int64_t kc, const float* a, const float* b, float* c, std::int64_t ldc, float alpha, float beta, int m,
            int n) {
  if (m == kMr && n == kNr) return tile<kMr, kNvMax>(kc, a, b, c, ldc, alpha, beta, n);
  kTiles[m - 1][(n + kLanes - 1) / kLanes - 1](kc, a, b, c, ldc, alpha, beta, n);
}

}  // namespace

gemm::MicroKernel gemm_microkernel() { return {kMr, kNr, kLanes, &kernel}; }

FLEXCONV_ISA_END
