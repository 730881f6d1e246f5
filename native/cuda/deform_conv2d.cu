// Deformable convolution on CUDA, built from the same math/bilinear.h helpers as the CPU.
//
// Per image and tile of output pixels: a sampling kernel writes the tile's deformable
// columns (C*kh*kw rows x tile pixels, bounded to ~64 MB) and the GEMM core multiplies.
// Backward recomputes the columns for grad_weight (GEMM with the transposed columns),
// computes column gradients W^T x grad_out by GEMM, then:
//   grad_input  atomic mode: one thread per (channel, tap, pixel) atomicAdds its 4 corners
//               (fast; float atomics make the summation order, hence the bits, vary);
//               deterministic mode: one thread per input channel owns that channel's plane
//               and scatters its samples in a fixed order (slower, bit-identical every run);
//   grad_offset / grad_mask: one thread per (offset group, tap, pixel) sums over the
//               group's channels in order (always deterministic);
//   grad_bias: one block per output channel, fixed-shape tree reduction (deterministic).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/errors.h"
#include "ops/conv2d.h"
#include "ops/deform_conv2d.h"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"
#include "cuda/runtime.h"
#include "math/bilinear.h"

namespace flexconv {
namespace cuda {
namespace {

using math::DeformConv2dGeometry;
using std::int64_t;

constexpr int64_t kColumnBudgetFloats = int64_t(16) << 20;  // 64 MB of columns per tile

// Sampling coordinate and mask of tap kp of offset group og at output pixel p of one image.
__device__ __forceinline__ void sample_point(const DeformConv2dGeometry& g, const float* off_n, const float* mask_n,
                                             int64_t og, int64_t kp, int64_t p, float* y, float* x, float* m) {
  const int64_t P = g.out_h * g.out_w, K = g.kernel_h * g.kernel_w;
  const int64_t oy = p / g.out_w, ox = p - oy * g.out_w;
  const int64_t i = kp / g.kernel_w, j = kp - i * g.kernel_w;
  const float* off = off_n + (og * 2 * K + 2 * kp) * P + p;
  *y = math::deform_base_coord(oy, g.stride_h, g.pad_h, i, g.dil_h) + off[0];
  *x = math::deform_base_coord(ox, g.stride_w, g.pad_w, j, g.dil_w) + off[P];
  *m = mask_n ? mask_n[(og * K + kp) * P + p] : 1.0f;
}

// The sampling plan of column element `it` = (c*K + kp) * count + q: tap kp of channel c at
// pixel t0 + q (its offset group's offsets and mask).
__device__ __forceinline__ math::BilinearPlan column_plan(const DeformConv2dGeometry& g, const float* off_n,
                                                          const float* mask_n, int64_t t0, int64_t count, int64_t it,
                                                          int64_t* c) {
  const int64_t K = g.kernel_h * g.kernel_w;
  const int64_t q = it % count, row = it / count, kp = row % K;
  *c = row / K;
  float y, x, m;
  sample_point(g, off_n, mask_n, *c / (g.in_channels / g.offset_groups), kp, t0 + q, &y, &x, &m);
  return math::bilinear_plan(y, x, m, g.in_h, g.in_w);
}

// cols[(c*K + kp) * count + q] = masked bilinear sample for pixel t0 + q.
__global__ void columns_kernel(DeformConv2dGeometry g, const float* in_n, const float* off_n, const float* mask_n,
                               int64_t t0, int64_t count, float* cols) {
  const int64_t K = g.kernel_h * g.kernel_w;
  const int64_t total = g.in_channels * K * count;
  FLEXCONV_GRID_STRIDE(it, total) {
    int64_t c;
    const math::BilinearPlan plan = column_plan(g, off_n, mask_n, t0, count, it, &c);
    cols[it] = math::bilinear_apply(plan, in_n + c * g.in_h * g.in_w);
  }
}

__global__ void bias_fill_kernel(float* out_n, const float* bias, int64_t O, int64_t P, int64_t t0, int64_t count) {
  const int64_t total = O * count;
  FLEXCONV_GRID_STRIDE(it, total) {
    const int64_t o = it / count, q = it - o * count;
    out_n[o * P + t0 + q] = bias ? bias[o] : 0.0f;
  }
}

__global__ void scatter_atomic_kernel(DeformConv2dGeometry g, const float* off_n, const float* mask_n,
                                      const float* grad_cols, int64_t t0, int64_t count, float* grad_in_n) {
  const int64_t K = g.kernel_h * g.kernel_w, HW = g.in_h * g.in_w;
  const int64_t total = g.in_channels * K * count;
  FLEXCONV_GRID_STRIDE(it, total) {
    int64_t c;
    const math::BilinearPlan plan = column_plan(g, off_n, mask_n, t0, count, it, &c);
    const float v = plan.mask * grad_cols[it];
    float* plane = grad_in_n + c * HW;
    for (int corner = 0; corner < 4; ++corner) {
      if (plan.index[corner] >= 0) atomicAdd(plane + plan.index[corner], plan.weight[corner] * v);
    }
  }
}

// One thread per input channel: it alone writes that channel's plane, in a fixed order.
__global__ void scatter_owner_kernel(DeformConv2dGeometry g, const float* off_n, const float* mask_n,
                                     const float* grad_cols, int64_t t0, int64_t count, float* grad_in_n) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= g.in_channels) return;
  const int64_t K = g.kernel_h * g.kernel_w, HW = g.in_h * g.in_w;
  const int64_t og = c / (g.in_channels / g.offset_groups);
  float* plane = grad_in_n + c * HW;
  for (int64_t kp = 0; kp < K; ++kp) {
    const float* gc = grad_cols + (c * K + kp) * count;
    for (int64_t q = 0; q < count; ++q) {
      float y, x, m;
      sample_point(g, off_n, mask_n, og, kp, t0 + q, &y, &x, &m);
      const math::BilinearPlan plan = math::bilinear_plan(y, x, m, g.in_h, g.in_w);
      const float v = plan.mask * gc[q];
      for (int corner = 0; corner < 4; ++corner) {
        if (plan.index[corner] >= 0) plane[plan.index[corner]] += plan.weight[corner] * v;
      }
    }
  }
}

__global__ void offset_mask_grad_kernel(DeformConv2dGeometry g, const float* in_n, const float* off_n,
                                        const float* mask_n, const float* grad_cols, int64_t t0, int64_t count,
                                        float* grad_off_n, float* grad_mask_n) {
  const int64_t K = g.kernel_h * g.kernel_w, HW = g.in_h * g.in_w, P = g.out_h * g.out_w;
  const int64_t cog = g.in_channels / g.offset_groups;
  const int64_t total = g.offset_groups * K * count;
  FLEXCONV_GRID_STRIDE(it, total) {
    const int64_t q = it % count, row = it / count, kp = row % K, og = row / K;
    float y, x, m;
    sample_point(g, off_n, mask_n, og, kp, t0 + q, &y, &x, &m);
    const math::BilinearCorners corners = math::bilinear_corners(y, x, g.in_h, g.in_w);
    float gy = 0.0f, gx = 0.0f, gm = 0.0f;
    for (int64_t c = og * cog; c < (og + 1) * cog; ++c) {
      const math::BilinearGrad s = math::bilinear_value_and_grad(corners, in_n + c * HW);
      const float gc = grad_cols[(c * K + kp) * count + q];
      gy += gc * s.dvdy;
      gx += gc * s.dvdx;
      gm += gc * s.value;
    }
    const int64_t p = t0 + q;
    if (grad_off_n) {
      grad_off_n[(og * 2 * K + 2 * kp) * P + p] = gy * m;
      grad_off_n[(og * 2 * K + 2 * kp + 1) * P + p] = gx * m;
    }
    if (grad_mask_n) grad_mask_n[(og * K + kp) * P + p] = gm;
  }
}

int64_t tile_for(const DeformConv2dGeometry& g) {
  const int64_t rows = std::max<int64_t>(1, g.in_channels * g.kernel_h * g.kernel_w);
  return std::max<int64_t>(1, std::min(g.out_h * g.out_w, kColumnBudgetFloats / rows));
}

}  // namespace

void deform_conv2d_forward(const DeformConv2dGeometry& g, const float* input, const float* offset, const float* mask,
                           const float* weight, const float* bias, float* output) {
  const int64_t P = g.out_h * g.out_w, K = g.kernel_h * g.kernel_w, HW = g.in_h * g.in_w;
  const int64_t C = g.in_channels, O = g.out_channels, Cg = C / g.groups, Og = O / g.groups, G = g.offset_groups;
  if (g.batch == 0 || O == 0 || P == 0) return;
  const int64_t tile = tile_for(g);
  DeviceBuffer cols(C * K * tile);
  for (int64_t n = 0; n < g.batch; ++n) {
    const float* in_n = input + n * C * HW;
    const float* off_n = offset + n * 2 * G * K * P;
    const float* mask_n = mask ? mask + n * G * K * P : nullptr;
    float* out_n = output + n * O * P;
    for (int64_t t0 = 0; t0 < P; t0 += tile) {
      const int64_t count = std::min(tile, P - t0);
      columns_kernel<<<grid_blocks(C * K * count), kThreads>>>(g, in_n, off_n, mask_n, t0, count, cols.get());
      check_last_launch("deformConv2d columns");
      bias_fill_kernel<<<grid_blocks(O * count), kThreads>>>(out_n, bias, O, P, t0, count);
      check_last_launch("deformConv2d bias");
      sgemm_strided_batched(false, false, Og, count, Cg * K, 1.0f, weight, Cg * K, Og * Cg * K, cols.get(), count,
                            Cg * K * count, 1.0f, out_n + t0, P, Og * P, g.groups);
    }
  }
}

void deform_conv2d_backward(const DeformConv2dGeometry& g, const float* input, const float* offset, const float* mask,
                            const float* weight, const float* grad_output, float* grad_input, float* grad_offset,
                            float* grad_mask, float* grad_weight, float* grad_bias, bool deterministic) {
  const int64_t P = g.out_h * g.out_w, K = g.kernel_h * g.kernel_w, HW = g.in_h * g.in_w;
  const int64_t C = g.in_channels, O = g.out_channels, Cg = C / g.groups, Og = O / g.groups, G = g.offset_groups;
  if (!mask) grad_mask = nullptr;
  if (grad_input) fill(grad_input, 0.0f, static_cast<std::size_t>(g.batch * C * HW));
  if (grad_offset) fill(grad_offset, 0.0f, static_cast<std::size_t>(g.batch * 2 * G * K * P));
  if (grad_mask) fill(grad_mask, 0.0f, static_cast<std::size_t>(g.batch * G * K * P));
  if (grad_weight) fill(grad_weight, 0.0f, static_cast<std::size_t>(O * Cg * K));
  if (grad_bias) {
    if (g.batch * P == 0) {
      fill(grad_bias, 0.0f, static_cast<std::size_t>(O));
    } else if (O > 0) {
      channel_sums(g.batch, O, P, grad_output, grad_bias);  // cuda/conv2d.cu: the same deterministic sum
    }
  }
  const bool need_cols = grad_input || grad_offset || grad_mask;
  if (g.batch == 0 || P == 0 || (!need_cols && !grad_weight)) return;
  const int64_t tile = tile_for(g);
  DeviceBuffer cols(grad_weight ? C * K * tile : 0);
  DeviceBuffer grad_cols(need_cols ? C * K * tile : 0);
  for (int64_t n = 0; n < g.batch; ++n) {
    const float* in_n = input + n * C * HW;
    const float* off_n = offset + n * 2 * G * K * P;
    const float* mask_n = mask ? mask + n * G * K * P : nullptr;
    const float* gout_n = grad_output + n * O * P;
    for (int64_t t0 = 0; t0 < P; t0 += tile) {
      const int64_t count = std::min(tile, P - t0);
      if (grad_weight) {
        columns_kernel<<<grid_blocks(C * K * count), kThreads>>>(g, in_n, off_n, mask_n, t0, count, cols.get());
        check_last_launch("deformConv2d columns");
        sgemm_strided_batched(false, true, Og, Cg * K, count, 1.0f, gout_n + t0, P, Og * P, cols.get(), count,
                              Cg * K * count, 1.0f, grad_weight, Cg * K, Og * Cg * K, g.groups);
      }
      if (!need_cols) continue;
      sgemm_strided_batched(true, false, Cg * K, count, Og, 1.0f, weight, Cg * K, Og * Cg * K, gout_n + t0, P, Og * P,
                            0.0f, grad_cols.get(), count, Cg * K * count, g.groups);
      if (grad_input) {
        float* gin_n = grad_input + n * C * HW;
        if (deterministic) {
          scatter_owner_kernel<<<blocks_for(C), kThreads>>>(g, off_n, mask_n, grad_cols.get(), t0, count, gin_n);
        } else {
          scatter_atomic_kernel<<<grid_blocks(C * K * count), kThreads>>>(g, off_n, mask_n, grad_cols.get(), t0, count,
                                                                          gin_n);
        }
        check_last_launch("deformConv2d input gradient");
      }
      if (grad_offset || grad_mask) {
        offset_mask_grad_kernel<<<grid_blocks(G * K * count), kThreads>>>(
            g, in_n, off_n, mask_n, grad_cols.get(), t0, count, grad_offset ? grad_offset + n * 2 * G * K * P : nullptr,
            grad_mask ? grad_mask + n * G * K * P : nullptr);
        check_last_launch("deformConv2d offset/mask gradient");
      }
    }
  }
}

}  // namespace cuda
}  // namespace flexconv
