#include "cuda/optim.h"
#include "cuda/runtime.h"

namespace flexconv {
namespace cuda {

namespace {

constexpr int kBlock = 256;

int blocks_for(std::int64_t n) {
  std::int64_t b = (n + kBlock - 1) / kBlock;
  return static_cast<int>(b < 65535 ? b : 65535);
}

__global__ void sgd_kernel(float* p, const float* g, float* buf, std::int64_t n, optim::SgdScalars s) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    optim::sgd_element(p, g, buf, i, s);
  }
}

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, float* vmax, std::int64_t n,
                            optim::AdamScalars s) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    if (s.amsgrad) optim::adam_element<true>(p, g, m, v, vmax, i, s);
    else optim::adam_element<false>(p, g, m, v, vmax, i, s);
  }
}

}  // namespace

void sgd_update(float* p, const float* g, float* buf, std::int64_t n, const optim::SgdScalars& s) {
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n), kBlock>>>(p, g, buf, n, s);
  check_last_launch("sgd_update");
}

void adam_update(float* p, const float* g, float* m, float* v, float* vmax, std::int64_t n,
                 const optim::AdamScalars& s) {
  if (n == 0) return;
  adam_kernel<<<blocks_for(n), kBlock>>>(p, g, m, v, vmax, n, s);
  check_last_launch("adam_update");
}

}  // namespace cuda
}  // namespace flexconv
