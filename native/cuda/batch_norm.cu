// CUDA batch norm: one block per channel reduces the channel's statistics (in double, in a
// fixed order, so results are deterministic) and then writes that channel's outputs.
#include <cuda_runtime.h>

#include "ops/batch_norm.h"
#include "cuda/runtime.h"
#include "cuda/launch.cuh"

namespace flexconv {
namespace cuda {
namespace {

// Block-wide sum of one double per thread; every thread gets the result.
__device__ double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();
  return total;
}

__global__ void bn_forward_kernel(BatchNormShape s, const float* x, float* y, float* running_mean, float* running_var,
                                  const float* weight, const float* bias, float* save_mean, float* save_invstd,
                                  bool training, float momentum, float eps) {
  __shared__ double shared[kThreads];
  const std::int64_t c = blockIdx.x;
  const std::int64_t count = s.n * s.hw;
  float mean, invstd;
  if (training) {
    double acc = 0;
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      acc += x[((i / s.hw) * s.c + c) * s.hw + i % s.hw];
    }
    mean = static_cast<float>(block_sum(acc, shared) / static_cast<double>(count));
    acc = 0;
    for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
      const double d = x[((i / s.hw) * s.c + c) * s.hw + i % s.hw] - mean;
      acc += d * d;
    }
    const double sq = block_sum(acc, shared);
    const double var = sq / static_cast<double>(count);
    invstd = static_cast<float>(1.0 / sqrt(var + static_cast<double>(eps)));
    if (threadIdx.x == 0) {
      if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
      if (running_var) {
        const double unbiased = count > 1 ? sq / static_cast<double>(count - 1) : var;
        running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
      }
    }
  } else {
    mean = running_mean[c];
    invstd = static_cast<float>(1.0 / sqrt(static_cast<double>(running_var[c]) + eps));
  }
  if (threadIdx.x == 0) {
    save_mean[c] = mean;
    save_invstd[c] = invstd;
  }
  const float a = invstd * (weight ? weight[c] : 1.0f);
  const float b = (bias ? bias[c] : 0.0f) - mean * a;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const std::int64_t k = ((i / s.hw) * s.c + c) * s.hw + i % s.hw;
    y[k] = x[k] * a + b;
  }
}

__global__ void bn_backward_kernel(BatchNormShape s, const float* x, const float* dy, const float* save_mean,
                                   const float* save_invstd, const float* weight, float* grad_x, float* grad_weight,
                                   float* grad_bias, bool training) {
  __shared__ double shared[kThreads];
  const std::int64_t c = blockIdx.x;
  const std::int64_t count = s.n * s.hw;
  const float mean = save_mean[c], invstd = save_invstd[c];
  double a = 0, b = 0;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const std::int64_t k = ((i / s.hw) * s.c + c) * s.hw + i % s.hw;
    a += dy[k];
    b += static_cast<double>(dy[k]) * (x[k] - mean);
  }
  const double sum_dy = block_sum(a, shared);
  const double sum_dy_xmu = block_sum(b, shared);
  if (threadIdx.x == 0) {
    if (grad_weight) grad_weight[c] = static_cast<float>(sum_dy_xmu * invstd);
    if (grad_bias) grad_bias[c] = static_cast<float>(sum_dy);
  }
  if (!grad_x) return;
  const float k = (weight ? weight[c] : 1.0f) * invstd;
  const float dy_mean = training ? static_cast<float>(sum_dy / static_cast<double>(count)) : 0.0f;
  const float proj = training ? static_cast<float>(sum_dy_xmu / static_cast<double>(count)) * invstd * invstd : 0.0f;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const std::int64_t e = ((i / s.hw) * s.c + c) * s.hw + i % s.hw;
    grad_x[e] = k * (dy[e] - dy_mean - (x[e] - mean) * proj);
  }
}

}  // namespace

void batch_norm_forward(const BatchNormShape& s, const float* x, float* y, float* running_mean, float* running_var,
                        const float* weight, const float* bias, float* save_mean, float* save_invstd, bool training,
                        float momentum, float eps) {
  if (s.c == 0) return;
  bn_forward_kernel<<<static_cast<unsigned>(s.c), kThreads>>>(s, x, y, running_mean, running_var, weight, bias,
                                                              save_mean, save_invstd, training, momentum, eps);
  check_last_launch("batch_norm_forward");
}

void batch_norm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* save_mean,
                         const float* save_invstd, const float* weight, float* grad_x, float* grad_weight,
                         float* grad_bias, bool training) {
  if (s.c == 0) return;
  bn_backward_kernel<<<static_cast<unsigned>(s.c), kThreads>>>(s, x, dy, save_mean, save_invstd, weight, grad_x,
                                                               grad_weight, grad_bias, training);
  check_last_launch("batch_norm_backward");
}

}  // namespace cuda
}  // namespace flexconv
