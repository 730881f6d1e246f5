// The kernel gradients of dynamic convolution on the CPU (see cpu/dynamic_conv2d_reduce.h).
#include "cpu/dynamic_conv2d_reduce.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <vector>

#include "core/alloc.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/conv2d.h"
#include "cpu/conv2d_columns.h"
#include "cpu/conv2d_winograd.h"
#include "cpu/dynamic_conv2d_kernels.h"
#include "cpu/dynamic_conv2d_support.h"
#include "cpu/gemm/gemm.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

// The per-sample kernel gradients grad_W_b = grad_out_b x col_b^T are reduced into
//   grad_experts[k] = sum_b attention[b, k] * grad_W_b,   dots = <grad_W_b, experts[k]>
// without ever being stored whole: each task owns a block of the kernel (a block of one group's
// columns, or whole small groups), and for every sample computes that block of grad_W_b (for a
// block of columns, grad_out_b x those columns of col_b^T: a GEMM of depth P) into a scratch
// tile and adds it into its block of the expert gradient at once. Stored for the whole batch,
// B * D floats (19 MB for B128 64 -> 64) were written by the GEMMs and read back by the
// reduction at ~10 GB/s: a quarter of a B64 8x8 -> 4x4 backward. A block's experts, expert
// gradients and tiles are sized to stay in L2 (kBlockBytes).
constexpr std::int64_t kBlockBytes = std::int64_t{1} << 20;
// Samples whose tiles are reduced in one pass (the reduction's loads of experts and expert
// gradients are shared by them).
constexpr std::int64_t kTileSamples = 4;

// The part of the kernel one task of the reduction owns: columns [c0, c1) (of Kdim, the
// (channel, tap) index) of the output channels of groups [g0, g1).
struct KernelBlock {
  std::int64_t g0, g1, c0, c1;
};

// The tasks of the reduction, fixed by the shape only (never by the thread count, and so are
// the dot products' partial sums), at least two where the kernel allows, so that two threads
// share them. A group whose experts, expert gradients and tiles exceed half of kBlockBytes is
// cut into an even number of column blocks, a task each; smaller groups (depthwise and grouped
// convs) are taken whole, several per task.
std::vector<KernelBlock> kernel_blocks(std::int64_t groups, std::int64_t Og, std::int64_t Kdim, std::int64_t K) {
  // Bytes per column of a group: Og of each of the K experts, of their gradients and of the tiles.
  const std::int64_t column_bytes = (2 * K + kTileSamples) * Og * std::int64_t{sizeof(float)};
  const std::int64_t group_bytes = column_bytes * Kdim;
  std::vector<KernelBlock> blocks;
  if (groups > 1 && 2 * group_bytes <= kBlockBytes) {
    const std::int64_t per_task = std::min(kBlockBytes / group_bytes, (groups + 1) / 2);
    for (std::int64_t g0 = 0; g0 < groups; g0 += per_task)
      blocks.push_back({g0, std::min(groups, g0 + per_task), 0, Kdim});
    return blocks;
  }
  std::int64_t count = std::max<std::int64_t>(2, (group_bytes + kBlockBytes - 1) / kBlockBytes);
  if (count % 2 == 1) ++count;
  count = std::min(count, Kdim);
  const std::int64_t cols = (Kdim + count - 1) / count;
  for (std::int64_t gi = 0; gi < groups; ++gi) {
    for (std::int64_t c0 = 0; c0 < Kdim; c0 += cols) blocks.push_back({gi, gi + 1, c0, std::min(Kdim, c0 + cols)});
  }
  return blocks;
}

// grad_experts (when not null) and grad_attention's kernel term grad_attention[b, k] =
// <grad_W_b, experts[k]> (when not null) for the batch of g (see above). Every element of
// grad_experts adds the samples in batch order, and each dot product sums fixed blocks in
// order: the result does not depend on the thread count.
void reduce_kernel_gradients(const Conv2dGeometry& g, std::int64_t K, const float* grad_out, const float* input,
                             const float* experts, const float* attention, float* grad_experts, float* grad_attention) {
  const std::int64_t B = g.batch, groups = g.groups;
  const std::int64_t Og = g.out_channels / groups, Cg = g.in_channels / groups;
  const std::int64_t Kdim = Cg * g.kernel_h * g.kernel_w, D = g.out_channels * Kdim;
  const std::int64_t P = g.out_h * g.out_w;
  const std::int64_t in_image = g.in_channels * g.in_h * g.in_w, out_image = g.out_channels * P;
  Conv2dGeometry one = g;
  one.batch = 1;
  const std::vector<KernelBlock> blocks = kernel_blocks(groups, Og, Kdim, K);
  const auto tasks = static_cast<std::int64_t>(blocks.size());
  std::int64_t widest = 0;
  for (const KernelBlock& kb : blocks) widest = std::max(widest, (kb.g1 - kb.g0) * Og * (kb.c1 - kb.c0));
  // dots[(task * B + b) * K + k]: sample b's dot product with expert k over the task's block.
  AlignedBuffer<float> dots(static_cast<size_t>(tasks * B * K));
  PerThread tiles(kTileSamples * widest), expert_sums(grad_experts ? K * widest : 0);
  const auto reduce = FLEXCONV_PICK_ISA(dynamic_reduce);
  parallel_tasks(tasks, [&](std::int64_t task, int thread) {
    const KernelBlock& kb = blocks[static_cast<size_t>(task)];
    const std::int64_t rows = (kb.g1 - kb.g0) * Og, nc = kb.c1 - kb.c0;
    // Whole groups: conv2d's own weight gradient of a conv of just those groups (depthwise and
    // the other special kernels included). A block of one group's columns: its GEMM, on those
    // columns of col_b^T.
    Conv2dGeometry part = one;
    part.groups = kb.g1 - kb.g0;
    part.in_channels = part.groups * Cg;
    part.out_channels = rows;
    const std::int64_t in_offset = kb.g0 * Cg * g.in_h * g.in_w, out_offset = kb.g0 * Og * P;
    // The tiles: sample s's block of grad_W_b, rows x nc, at tile + s * rows * nc. The block's
    // expert gradients are summed in the thread's own rows x nc arrays and copied out at the end:
    // added in place, the rows' first and last cache lines were shared with the neighbouring
    // blocks' tasks, and the two threads took turns on them for every group of samples (each
    // task ran 1.6-2.4x slower with two threads than with one).
    const ReduceBlock blk{rows, nc, nc, rows * nc, Kdim, D, nc, rows * nc};
    float* tile = tiles[thread];
    float* sums = grad_experts ? expert_sums[thread] : nullptr;
    if (sums) std::fill(sums, sums + K * rows * nc, 0.0f);
    const std::int64_t offset = kb.g0 * Og * Kdim + kb.c0;  // of the block in a kernel
    for (std::int64_t b0 = 0; b0 < B; b0 += kTileSamples) {
      const std::int64_t n = std::min(kTileSamples, B - b0);
      for (std::int64_t s = 0; s < n; ++s) {
        const float* x = input + (b0 + s) * in_image;
        const float* go = grad_out + (b0 + s) * out_image;
        if (nc == Kdim) {
          conv2d_backward_weight_direct(part, go + out_offset, x + in_offset, tile + s * rows * nc);
        } else {
          RowsAcrossImagesA a(go, out_image, P, kb.g0 * Og, 1);
          TransposedColumnSource columns(one, x, kb.g0);
          gemm::gemm(Og, nc, P, 1.0f, a, gemm::ColumnRange(columns, kb.c0), 0.0f, tile + s * rows * nc, nc);
        }
      }
      reduce(n, K, blk, attention + b0 * K, tile, experts + offset, sums, dots.data() + (task * B + b0) * K);
    }
    for (std::int64_t k = 0; sums && k < K; ++k) {
      for (std::int64_t r = 0; r < rows; ++r) {
        const float* from = sums + (k * rows + r) * nc;
        std::copy(from, from + nc, grad_experts + k * D + offset + r * Kdim);
      }
    }
  });
  if (grad_attention) {
    for (std::int64_t b = 0; b < B; ++b) {
      for (std::int64_t k = 0; k < K; ++k) {
        float total = 0.0f;
        for (std::int64_t t = 0; t < tasks; ++t) total += dots[static_cast<size_t>((t * B + b) * K + k)];
        grad_attention[b * K + k] = total;
      }
    }
  }
}

// Samples whose dU[xi] are reduced in one pass by the Winograd reduction below (the loads of
// the experts' matrices and their gradients' are shared by them).
constexpr std::int64_t kWinogradSamples = 2;
// Most floats of the experts' transformed matrices (K x points x O x C) for the Winograd
// reduction (which holds them and two partial sums of their gradients: 48 MB at this bound);
// wider convs reduce by the per-sample GEMMs, which are efficient there anyway.
constexpr std::int64_t kWinogradMaxExpertFloats = std::int64_t(1) << 22;

// reduce_kernel_gradients in Winograd's transformed domain (cpu/conv2d_winograd.h,
// WinogradImageGradient): per sample b and point xi, dU_b[xi] = Z_b[xi] V_b[xi]^T (O x C, in
// cache) is reduced at once into
//   S_k[xi] += attention[b, k] * dU_b[xi],   dots[xi][b][k] = <dU_b[xi], U_k[xi]>
// with U_k expert k transformed as the forward transforms it; then grad_experts[k] = G^T S_k G
// and grad_attention[b, k] = the sum over xi of dots[xi][b][k], which is <grad_W_b, experts[k]>
// (the two transforms are each other's adjoints). 36 products per 4x4 tile and channel pair
// instead of the direct GEMM's 144, and one inverse transform per expert, not per sample. Two
// fixed halves of the batch, each into its own S (added in order by the inverse transform),
// samples in batch order within a half, the dots summed in point order: the result does not
// depend on the thread count. Returns false, with nothing written, where it does not apply or a
// value is not finite (the direct reduction then keeps PyTorch's propagation of inf and NaN).
bool reduce_kernel_gradients_winograd(const Conv2dGeometry& g, std::int64_t K, const float* grad_out,
                                      const float* input, const float* experts, const float* attention,
                                      float* grad_experts, float* grad_attention) {
  const std::int64_t B = g.batch, O = g.out_channels, C = g.in_channels, pairs = O * C, D = 9 * pairs;
  Conv2dGeometry one = g;
  one.batch = 1;
  const std::optional<WinogradTile> tile = winograd_image_gradient_tile(one);
  if (!tile) return false;
  const WinogradImageGradient image(one, *tile);
  const int points = image.points();
  const std::int64_t u_floats = points * pairs;
  if (K * u_floats > kWinogradMaxExpertFloats || !all_finite(attention, B * K)) return false;
  AlignedBuffer<float> u(static_cast<size_t>(K * u_floats));
  for (std::int64_t k = 0; k < K; ++k) {
    if (!winograd_transform_weights(experts + k * D, O, C, *tile, u.data() + k * u_floats)) return false;
  }
  // S of the two halves: [half][k][xi][O x C].
  AlignedBuffer<float> sums(grad_experts ? static_cast<size_t>(2 * K * u_floats) : 0);
  std::fill(sums.data(), sums.data() + sums.size(), 0.0f);
  AlignedBuffer<float> dots(static_cast<size_t>(points * B * K));
  const ReduceBlock blk{O, C, C, pairs, C, u_floats, C, u_floats};
  const auto reduce = FLEXCONV_PICK_ISA(dynamic_reduce);
  const std::int64_t in_image = C * g.in_h * g.in_w, out_image = O * g.out_h * g.out_w;
  const std::int64_t scratch = static_cast<std::int64_t>(image.scratch_floats());
  // V and Z of a half's group of samples; each point's dU of the group, per thread (or per half
  // when the halves run in parallel: their points then run inline as thread 0).
  AlignedBuffer<float> vz(static_cast<size_t>(2 * kWinogradSamples * scratch));
  PerThread du(kWinogradSamples * pairs);
  const bool halves_in_parallel = num_threads() == 2 && !in_parallel_region();
  std::atomic<bool> finite{true};
  auto half = [&](int h, std::int64_t b_begin, std::int64_t b_end) {
    float* vz_h = vz.data() + h * kWinogradSamples * scratch;
    float* s_h = grad_experts ? sums.data() + h * K * u_floats : nullptr;
    for (std::int64_t b0 = b_begin; b0 < b_end && finite.load(std::memory_order_relaxed); b0 += kWinogradSamples) {
      const std::int64_t n = std::min(kWinogradSamples, b_end - b0);
      for (std::int64_t s = 0; s < n; ++s) {
        if (!image.transform(grad_out + (b0 + s) * out_image, input + (b0 + s) * in_image, vz_h + s * scratch)) {
          finite.store(false, std::memory_order_relaxed);
          return;
        }
      }
      parallel_tasks(points, [&](std::int64_t xi, int thread) {
        float* tiles = du[halves_in_parallel ? h : thread];
        for (std::int64_t s = 0; s < n; ++s)
          image.multiply(static_cast<int>(xi), vz_h + s * scratch, tiles + s * pairs, C);
        reduce(n, K, blk, attention + b0 * K, tiles, u.data() + xi * pairs, s_h ? s_h + xi * pairs : nullptr,
               dots.data() + (xi * B + b0) * K);
      });
    }
  };
  const std::int64_t split = (B + 1) / 2;
  if (halves_in_parallel) {
    parallel_tasks(2, [&](std::int64_t h, int) { h == 0 ? half(0, 0, split) : half(1, split, B); });
  } else {
    half(0, 0, split);
    half(1, split, B);
  }
  if (!finite.load()) return false;
  for (std::int64_t k = 0; grad_experts && k < K; ++k) {
    winograd_inverse_weights(sums.data() + k * u_floats, sums.data() + (K + k) * u_floats, O, C, *tile,
                             grad_experts + k * D);
  }
  for (std::int64_t b = 0; grad_attention && b < B; ++b) {
    for (std::int64_t k = 0; k < K; ++k) {
      float total = 0.0f;
      for (int xi = 0; xi < points; ++xi) total += dots[static_cast<size_t>((xi * B + b) * K + k)];
      grad_attention[b * K + k] = total;
    }
  }
  return true;
}

}  // namespace

void dynamic_kernel_gradients(const Conv2dGeometry& g, std::int64_t K, const float* grad_out, const float* input,
                              const float* experts, const float* attention, float* grad_experts,
                              float* grad_attention) {
  if (reduce_kernel_gradients_winograd(g, K, grad_out, input, experts, attention, grad_experts, grad_attention)) {
    return;
  }
  reduce_kernel_gradients(g, K, grad_out, input, experts, attention, grad_experts, grad_attention);
}

}  // namespace cpu
}  // namespace flexconv
