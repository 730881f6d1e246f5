// CUDA conv2d: im2col into a per-image column buffer + the CUDA GEMM (cuda/gemm.h), and a
// gather-form col2im (each thread sums the column entries that land on its input pixel), so
// every result is deterministic without atomics. Simple and correct rather than tuned.
// The depthwise case takes the same path with one GEMM per group.
#include <cuda_runtime.h>

#include "core/errors.h"
#include "ops/conv2d.h"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"
#include "cuda/runtime.h"

namespace flexconv {
namespace cuda {
namespace {

using math::Conv2dGeometry;
using std::int64_t;

// col[(c*kh + i)*kw + j, oy*OW + ox] = image[c0 + c, oy*s - p + i*d, ox*s - p + j*d] (0 outside).
__global__ void im2col_kernel(Conv2dGeometry g, const float* image, int64_t channels, float* col) {
  const int64_t P = g.out_h * g.out_w, KK = g.kernel_h * g.kernel_w;
  const int64_t total = channels * KK * P;
  FLEXCONV_GRID_STRIDE(idx, total) {
    const int64_t p = idx % P, row = idx / P;
    const int64_t c = row / KK, r = row % KK, i = r / g.kernel_w, j = r % g.kernel_w;
    const int64_t oy = p / g.out_w, ox = p % g.out_w;
    const int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
    const int64_t ix = ox * g.stride_w - g.pad_w + j * g.dil_w;
    col[idx] = (iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w) ? image[(c * g.in_h + iy) * g.in_w + ix] : 0.0f;
  }
}

// image[c, y, x] = sum of the col entries that im2col would have read from (c, y, x).
__global__ void col2im_kernel(Conv2dGeometry g, const float* col, int64_t channels, float* image) {
  const int64_t P = g.out_h * g.out_w, KK = g.kernel_h * g.kernel_w;
  const int64_t total = channels * g.in_h * g.in_w;
  FLEXCONV_GRID_STRIDE(idx, total) {
    const int64_t x = idx % g.in_w, y = (idx / g.in_w) % g.in_h, c = idx / (g.in_w * g.in_h);
    float acc = 0.0f;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t ty = y + g.pad_h - i * g.dil_h;
      if (ty < 0 || ty % g.stride_h != 0) continue;
      const int64_t oy = ty / g.stride_h;
      if (oy >= g.out_h) continue;
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const int64_t tx = x + g.pad_w - j * g.dil_w;
        if (tx < 0 || tx % g.stride_w != 0) continue;
        const int64_t ox = tx / g.stride_w;
        if (ox >= g.out_w) continue;
        acc += col[(c * KK + i * g.kernel_w + j) * P + oy * g.out_w + ox];
      }
    }
    image[idx] = acc;
  }
}

__global__ void channel_bias_kernel(int64_t total, int64_t channels, int64_t plane, const float* bias, float* x,
                                    bool overwrite) {
  FLEXCONV_GRID_STRIDE(idx, total) {
    const float b = bias ? bias[(idx / plane) % channels] : 0.0f;
    x[idx] = overwrite ? b : x[idx] + b;
  }
}

// One block per channel; a fixed-shape tree reduction, so the sum is deterministic.
__global__ void channel_sums_kernel(int64_t batch, int64_t channels, int64_t plane, const float* x, float* sums) {
  __shared__ float partial[kThreads];
  const int64_t c = blockIdx.x;
  float acc = 0.0f;
  for (int64_t b = 0; b < batch; ++b) {
    const float* p = x + (b * channels + c) * plane;
    for (int64_t i = threadIdx.x; i < plane; i += blockDim.x) acc += p[i];
  }
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) sums[c] = partial[0];
}

struct Dims {
  int64_t P, KK, Cg, Og, Kdim, in_image, out_image, HW;
  explicit Dims(const Conv2dGeometry& g)
      : P(g.out_h * g.out_w),
        KK(g.kernel_h * g.kernel_w),
        Cg(g.in_channels / g.groups),
        Og(g.out_channels / g.groups),
        Kdim(Cg * KK),
        in_image(g.in_channels * g.in_h * g.in_w),
        out_image(g.out_channels * g.out_h * g.out_w),
        HW(g.in_h * g.in_w) {}
};

// For each image b and group gi in order: the columns (im2col) of that image's group into col,
// then use(b, gi), which multiplies with them.
template <class Use>
void for_each_columns(const Conv2dGeometry& g, const Dims& d, const float* input, float* col, Use use) {
  for (int64_t b = 0; b < g.batch; ++b) {
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      im2col_kernel<<<grid_blocks(d.Kdim * d.P), kThreads>>>(g, input + b * d.in_image + gi * d.Cg * d.HW, d.Cg, col);
      check_last_launch("conv2d im2col");
      use(b, gi);
    }
  }
}

}  // namespace

void conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight, const float* bias, float* out,
                    const ConvEpilogue& epilogue, const PackedConvWeights* prepacked) {
  if (epilogue.residual || epilogue.relu || prepacked) {
    throw Error(ErrorCode::InvalidArgument, "conv2d: the fused epilogue and packed weights run on the CPU only");
  }
  const Dims d(g);
  const int64_t total = g.batch * d.out_image;
  if (total == 0) return;
  channel_bias_kernel<<<grid_blocks(total), kThreads>>>(total, g.out_channels, d.P, bias, out, true);
  check_last_launch("conv2d bias");
  if (d.Kdim == 0) return;
  DeviceBuffer col(d.Kdim * d.P);
  for_each_columns(g, d, input, col.get(), [&](int64_t b, int64_t gi) {
    sgemm_strided_batched(false, false, d.Og, d.P, d.Kdim, 1.0f, weight + gi * d.Og * d.Kdim, d.Kdim, 0, col.get(), d.P,
                          0, 1.0f, out + b * d.out_image + gi * d.Og * d.P, d.P, 0, 1);
  });
}

void conv2d_backward_input(const Conv2dGeometry& g, const float* grad_out, const float* weight, float* grad_input) {
  const Dims d(g);
  if (g.batch * d.in_image == 0) return;
  if (d.Og == 0 || d.Kdim == 0) {
    fill(grad_input, 0.0f, static_cast<size_t>(g.batch * d.in_image));
    return;
  }
  DeviceBuffer col(d.Kdim * d.P);
  for (int64_t b = 0; b < g.batch; ++b) {
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      // col = W_g^T [Kdim x Og] x grad_out_g [Og x P]
      sgemm_strided_batched(true, false, d.Kdim, d.P, d.Og, 1.0f, weight + gi * d.Og * d.Kdim, d.Kdim, 0,
                            grad_out + b * d.out_image + gi * d.Og * d.P, d.P, 0, 0.0f, col.get(), d.P, 0, 1);
      col2im_kernel<<<grid_blocks(d.Cg * d.HW), kThreads>>>(g, col.get(), d.Cg,
                                                            grad_input + b * d.in_image + gi * d.Cg * d.HW);
      check_last_launch("conv2d col2im");
    }
  }
}

void conv2d_backward_weight(const Conv2dGeometry& g, const float* grad_out, const float* input, float* grad_weight) {
  const Dims d(g);
  if (g.out_channels * d.Kdim == 0) return;
  if (g.batch == 0) {
    fill(grad_weight, 0.0f, static_cast<size_t>(g.out_channels * d.Kdim));
    return;
  }
  DeviceBuffer col(d.Kdim * d.P);
  for_each_columns(g, d, input, col.get(), [&](int64_t b, int64_t gi) {
    // grad_W_g [Og x Kdim] (+)= grad_out_g [Og x P] x col^T [P x Kdim], images in order.
    sgemm_strided_batched(false, true, d.Og, d.Kdim, d.P, 1.0f, grad_out + b * d.out_image + gi * d.Og * d.P, d.P, 0,
                          col.get(), d.P, 0, b == 0 ? 0.0f : 1.0f, grad_weight + gi * d.Og * d.Kdim, d.Kdim, 0, 1);
  });
}

void channel_sums(int64_t batch, int64_t channels, int64_t plane, const float* x, float* sums) {
  if (channels == 0) return;
  channel_sums_kernel<<<static_cast<unsigned>(channels), kThreads>>>(batch, channels, plane, x, sums);
  check_last_launch("channel_sums");
}

void add_channel_bias(int64_t batch, int64_t channels, int64_t plane, const float* bias, float* x) {
  const int64_t total = batch * channels * plane;
  if (total == 0) return;
  channel_bias_kernel<<<grid_blocks(total), kThreads>>>(total, channels, plane, bias, x, false);
  check_last_launch("add_channel_bias");
}

}  // namespace cuda
}  // namespace flexconv
