// The few-rows GEMM (cpu/gemm/few_rows.h), compiled once per instruction set: blocks of OB
// columns of C (rows of B) by all R rows of A, one vector accumulator per element. Each k step
// loads OB vectors of B and R of A for OB x R FMAs; OB is chosen so that OB x R accumulators
// (8 to 16) hide the FMA latency and stay in registers.
#include <array>
#include <cstdint>
#include <utility>

#include "core/lanes.h"
#include "cpu/gemm/few_rows.h"

FLEXCONV_ISA_BEGIN
namespace {

using lanes::F32;
constexpr int kLanes = F32::kWidth;
// How far ahead the rows of B are prefetched, in floats over all the rows a block streams
// together: B is read once, from memory when it is large (a 4096 x 4096 layer, 64 MB), and the
// fewer rows a block streams, the further ahead each must be fetched to keep as many lines in
// flight (8 KB in all: 1 KB ahead on each of 8 rows at batch 1, 2.7 KB on each of 3 at batch 8).
constexpr int kPrefetchFloats = 2048;

// The lane maps of one level of the sums across lanes (sum_each): two vectors holding groups of
// `width` partial sums each become one holding groups of width / 2, the first vector's groups
// in its first half. Lane j of a group is added to lane j + width / 2: lo picks the first,
// hi the second.
struct LevelMaps {
  lanes::LaneMap lo, hi;
};

LevelMaps level_maps(int width) {
  int lo[kLanes], hi[kLanes];
  const int half = width / 2;
  for (int k = 0; k < kLanes; ++k) {
    const int from_b = k < kLanes / 2 ? 0 : kLanes, kk = k % (kLanes / 2 > 0 ? kLanes / 2 : 1);
    const int lane = kk / half * width + kk % half;
    lo[k] = from_b + lane;
    hi[k] = from_b + lane + half;
  }
  return {lanes::lane_map(lo), lanes::lane_map(hi)};
}

// log2(kLanes) levels, from groups of kLanes down to groups of 2.
struct SumMaps {
  LevelMaps level[8];
  SumMaps() {
    int l = 0;
    for (int width = kLanes; width > 1; width /= 2) level[l++] = level_maps(width);
  }
};

// out[i] = the lanes of v[i] summed, for kLanes vectors (v is overwritten). Pairs of vectors
// are folded into one at each level, so kLanes sums take kLanes - 1 adds and twice as many lane
// permutes instead of a store and kLanes - 1 scalar adds each. The order is fixed: lane j plus
// lane j + kLanes / 2, then those pairwise at half the distance, and so on.
void sum_each(const SumMaps& maps, F32* v, float* out) {
  int n = kLanes, l = 0;
  for (int width = kLanes; width > 1; width /= 2, ++l) {
    const LevelMaps& m = maps.level[l];
    for (int i = 0; i < n / 2; ++i) {
      v[i] = lanes::add(lanes::remap(v[2 * i], v[2 * i + 1], m.lo), lanes::remap(v[2 * i], v[2 * i + 1], m.hi));
    }
    n /= 2;
  }
  v[0].storeu(out);
}

template <int R, int OB>
void column_block(const SumMaps& maps, std::int64_t K, float alpha, const float* a, std::int64_t lda, const float* b,
                  std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  F32 acc[OB][R];
#pragma GCC unroll 16
  for (int o = 0; o < OB; ++o) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[o][r] = F32::zero();
  }
  auto step = [&](std::int64_t k, auto load) {
    F32 bv[OB];
#pragma GCC unroll 16
    for (int o = 0; o < OB; ++o) bv[o] = load(b + o * ldb + k);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const F32 av = load(a + r * lda + k);
#pragma GCC unroll 16
      for (int o = 0; o < OB; ++o) acc[o][r] = lanes::fmadd(av, bv[o], acc[o][r]);
    }
  };
  std::int64_t k = 0;
  for (; k + kLanes <= K; k += kLanes) {
#pragma GCC unroll 16
    for (int o = 0; o < OB; ++o) lanes::prefetch(b + o * ldb + k + kPrefetchFloats / OB);
    step(k, [](const float* p) { return F32::loadu(p); });
  }
  if (k < K) {
    const int left = static_cast<int>(K - k);
    step(k, [left](const float* p) { return F32::load_first(p, left); });
  }
  // The accumulators summed across their lanes kLanes at a time (zeros pad the last batch).
  constexpr int kCount = OB * R, kBatches = (kCount + kLanes - 1) / kLanes;
  float sums[kBatches * kLanes];
  for (int batch = 0; batch < kBatches; ++batch) {
    F32 v[kLanes];
#pragma GCC unroll 16
    for (int i = 0; i < kLanes; ++i) {
      const int index = batch * kLanes + i;
      v[i] = index < kCount ? acc[index / R][index % R] : F32::zero();
    }
    sum_each(maps, v, sums + batch * kLanes);
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 16
    for (int o = 0; o < OB; ++o) {
      float& out = c[r * ldc + o];
      const float s = alpha * sums[o * R + r];
      out = beta == 0.0f ? s : s + beta * out;
    }
  }
}

// Columns per block for R rows of A: as many as the vector registers hold (OB x R accumulators,
// OB vectors of B and one of A), at most 8. With 8 rows of A each k step then loads 3 + 8
// vectors for 24 FMAs: A's rows come from L2 when K is large (8 x 4096 floats), and 8 loads per
// 16 FMAs (two columns) were as much as L2 delivers.
constexpr int kRegisters = kLanes == 16 ? 32 : 16;
constexpr int block_columns(int rows) {
  int ob = 8;
  while (ob > 1 && ob * rows + ob + 1 > kRegisters) --ob;
  return ob;
}

template <int R>
void columns(std::int64_t n0, std::int64_t n1, std::int64_t K, float alpha, const float* a, std::int64_t lda,
             const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  constexpr int OB = block_columns(R);
  const SumMaps maps;
  std::int64_t n = n0;
  for (; n + OB <= n1; n += OB) column_block<R, OB>(maps, K, alpha, a, lda, b + n * ldb, ldb, beta, c + n, ldc);
  for (; n < n1; ++n) column_block<R, 1>(maps, K, alpha, a, lda, b + n * ldb, ldb, beta, c + n, ldc);
}

using ColumnsFn = void (*)(std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t, const float*,
                           std::int64_t, float, float*, std::int64_t);

template <int... R>
constexpr std::array<ColumnsFn, sizeof...(R)> columns_table(std::integer_sequence<int, R...>) {
  return {&columns<R + 1>...};
}
// [rows - 1]
constexpr auto kColumns = columns_table(std::make_integer_sequence<int, gemm::kFewRowsMax>());

}  // namespace

void gemm_few_rows_nt_columns(int rows, std::int64_t n0, std::int64_t n1, std::int64_t K, float alpha, const float* A,
                              std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C,
                              std::int64_t ldc) {
  kColumns[rows - 1](n0, n1, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

FLEXCONV_ISA_END
