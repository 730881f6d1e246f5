// Reductions. The reduced/kept dimensions are first merged into alternating groups, so every
// case becomes one of two loops:
//   - the innermost group is reduced: each output is a sum of contiguous rows (row sums with
//     16 independent float lanes the compiler vectorises, lanes added in double);
//   - the innermost group is kept: each output row is a sum of contiguous rows, accumulated
//     column-wise in double (also vectorised).
// Threads split the outputs (or, for a full reduction, fixed-size blocks whose partial sums
// are added in order), so results do not depend on the thread count.
#include "core/no_trapping_math.h"  // first: it lets the argmax compare-and-blend loop vectorise
#include "ops/reduction.h"

#include <cmath>

#include "core/thread_pool.h"
#include "cpu/elementwise.h"

namespace flexconv {
namespace cpu {
namespace {

struct Group {
  std::int64_t size;
  bool reduced;
  std::int64_t stride = 0;  // elements between consecutive indices of this group
};

double row_sum(const float* __restrict p, std::int64_t n) {
  constexpr int kLanes = 16;
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += p[i + l];
  }
  double total = 0.0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  for (; i < n; ++i) total += p[i];
  return total;
}

// Offsets (in elements) of every index combination of `groups`, first group outermost.
std::vector<std::int64_t> combination_offsets(const std::vector<Group>& groups) {
  std::vector<std::int64_t> offsets{0};
  for (const Group& g : groups) {
    std::vector<std::int64_t> next;
    next.reserve(offsets.size() * static_cast<std::size_t>(g.size));
    for (std::int64_t base : offsets) {
      for (std::int64_t i = 0; i < g.size; ++i) next.push_back(base + i * g.stride);
    }
    offsets.swap(next);
  }
  return offsets;
}

std::int64_t kept_offset(std::int64_t p, const std::vector<Group>& kept) {
  std::int64_t off = 0;
  for (std::size_t k = kept.size(); k-- > 0;) {
    off += (p % kept[k].size) * kept[k].stride;
    p /= kept[k].size;
  }
  return off;
}

void full_sum(const float* x, std::int64_t n, float scale, float* out) {
  // Fixed blocks, independent of the thread count; partials added in block order.
  constexpr std::int64_t kBlock = 1 << 14;
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<std::size_t>(blocks > 0 ? blocks : 1), 0.0);
  parallel_for(
      blocks,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t b = begin; b < end; ++b) {
          const std::int64_t lo = b * kBlock, hi = lo + kBlock < n ? lo + kBlock : n;
          partial[static_cast<std::size_t>(b)] = row_sum(x + lo, hi - lo);
        }
      },
      2);
  double total = 0.0;
  for (double v : partial) total += v;
  *out = static_cast<float>(total * scale);
}

}  // namespace

void sum_dims(const float* x, const std::vector<std::int64_t>& shape, const std::vector<bool>& reduce, float scale,
              float* out) {
  std::int64_t numel = 1;
  for (auto d : shape) numel *= d;
  // Merge adjacent dimensions with the same status; size-1 dimensions do not matter.
  std::vector<Group> groups;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!groups.empty() && groups.back().reduced == reduce[d])
      groups.back().size *= shape[d];
    else
      groups.push_back({shape[d], static_cast<bool>(reduce[d])});
  }
  std::int64_t out_numel = 1;
  for (const Group& g : groups) {
    if (!g.reduced) out_numel *= g.size;
  }
  if (numel == 0) {
    // Empty sums are 0; an empty mean (scale 1/0) is NaN, as in PyTorch.
    fill(out, out_numel, 0.0f * scale);
    return;
  }
  if (groups.empty()) {  // a single element
    out[0] = x[0] * scale;
    return;
  }
  std::int64_t stride = 1;
  for (std::size_t g = groups.size(); g-- > 0;) {
    groups[g].stride = stride;
    stride *= groups[g].size;
  }
  const Group inner = groups.back();
  std::vector<Group> outer_kept, outer_reduced;
  for (std::size_t g = 0; g + 1 < groups.size(); ++g)
    (groups[g].reduced ? outer_reduced : outer_kept).push_back(groups[g]);
  const std::vector<std::int64_t> rows = combination_offsets(outer_reduced);
  const std::int64_t per_output = static_cast<std::int64_t>(rows.size()) * inner.size;

  if (inner.reduced) {
    if (out_numel == 1 && rows.size() == 1) return full_sum(x, inner.size, scale, out);
    const std::int64_t grain = per_output >= kParallelGrain ? 1 : kParallelGrain / per_output;
    parallel_for(
        out_numel,
        [&](std::int64_t begin, std::int64_t end) {
          for (std::int64_t o = begin; o < end; ++o) {
            const float* base = x + kept_offset(o, outer_kept);
            double total = 0.0;
            for (std::int64_t r : rows) total += row_sum(base + r, inner.size);
            out[o] = static_cast<float>(total * scale);
          }
        },
        grain);
    return;
  }

  // Innermost group kept: column sums over chunks of the kept row.
  constexpr std::int64_t kChunk = 256;
  const std::int64_t K = inner.size;
  const std::int64_t chunks = (K + kChunk - 1) / kChunk;
  const std::int64_t P = out_numel / K;
  const std::int64_t work = static_cast<std::int64_t>(rows.size()) * (K < kChunk ? K : kChunk);
  const std::int64_t grain = work >= kParallelGrain ? 1 : kParallelGrain / work;
  parallel_for(
      P * chunks,
      [&](std::int64_t begin, std::int64_t end) {
        double acc[kChunk];
        for (std::int64_t item = begin; item < end; ++item) {
          const std::int64_t p = item / chunks, k0 = (item % chunks) * kChunk;
          const std::int64_t len = K - k0 < kChunk ? K - k0 : kChunk;
          const float* base = x + kept_offset(p, outer_kept) + k0;
          for (std::int64_t k = 0; k < len; ++k) acc[k] = 0.0;
          for (std::int64_t r : rows) {
            const float* __restrict row = base + r;
            for (std::int64_t k = 0; k < len; ++k) acc[k] += row[k];
          }
          float* o = out + p * K + k0;
          for (std::int64_t k = 0; k < len; ++k) o[k] = static_cast<float>(acc[k] * scale);
        }
      },
      grain);
}

// Along a dimension with others inside it (inner > 1, e.g. channels of NCHW), a chunk of
// consecutive inner positions at a time: every one of the n rows is read contiguously and
// compared lane by lane (a strided walk per position read each row's cache lines n times over).
// PyTorch's rules: the first maximum; a NaN is the maximum, the first NaN wins.
void argmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) {
  constexpr std::int64_t kChunk = 256;
  const std::int64_t chunks = (inner + kChunk - 1) / kChunk;
  const std::int64_t work = n * (inner < kChunk ? inner : kChunk);
  const std::int64_t grain = work >= kParallelGrain ? 1 : kParallelGrain / (work > 0 ? work : 1);
  parallel_for(
      outer * chunks,
      [&](std::int64_t begin, std::int64_t end) {
        float best_value[kChunk];
        std::int32_t best[kChunk];
        for (std::int64_t item = begin; item < end; ++item) {
          const std::int64_t o = item / chunks, i0 = (item % chunks) * kChunk;
          const std::int64_t len = inner - i0 < kChunk ? inner - i0 : kChunk;
          const float* base = x + o * n * inner + i0;
          if (inner == 1) {  // a contiguous row: one scan
            std::int64_t at = 0;
            for (std::int64_t k = 1; k < n && base[at] == base[at]; ++k) {
              if (base[k] > base[at] || base[k] != base[k]) at = k;
            }
            out[o] = static_cast<float>(at);
            continue;
          }
          for (std::int64_t j = 0; j < len; ++j) {
            best_value[j] = base[j];
            best[j] = 0;
          }
          for (std::int64_t k = 1; k < n; ++k) {
            const float* __restrict row = base + k * inner;
            const std::int32_t kk = static_cast<std::int32_t>(k);
            for (std::int64_t j = 0; j < len; ++j) {
              const float v = row[j], b = best_value[j];
              const bool take = v > b || (v != v && b == b);
              best_value[j] = take ? v : b;
              best[j] = take ? kk : best[j];
            }
          }
          float* o_row = out + o * inner + i0;
          for (std::int64_t j = 0; j < len; ++j) o_row[j] = static_cast<float>(best[j]);
        }
      },
      grain);
}

}  // namespace cpu
}  // namespace flexconv
