#include "ops/optim.h"
#include "cuda/launch.cuh"
#include "cuda/runtime.h"

namespace flexconv {
namespace cuda {

namespace {

__global__ void sgd_kernel(float* p, const float* g, float* buf, std::int64_t n, optim::SgdScalars s) {
  FLEXCONV_GRID_STRIDE(i, n) { optim::sgd_element(p, g, buf, i, s); }
}

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, float* vmax, std::int64_t n,
                            optim::AdamScalars s) {
  FLEXCONV_GRID_STRIDE(i, n) {
    if (s.amsgrad)
      optim::adam_element<true>(p, g, m, v, vmax, i, s);
    else
      optim::adam_element<false>(p, g, m, v, vmax, i, s);
  }
}

}  // namespace

void sgd_update(float* p, const float* g, float* buf, std::int64_t n, const optim::SgdScalars& s) {
  if (n == 0) return;
  sgd_kernel<<<grid_blocks(n), kThreads>>>(p, g, buf, n, s);
  check_last_launch("sgd_update");
}

void adam_update(float* p, const float* g, float* m, float* v, float* vmax, std::int64_t n,
                 const optim::AdamScalars& s) {
  if (n == 0) return;
  adam_kernel<<<grid_blocks(n), kThreads>>>(p, g, m, v, vmax, n, s);
  check_last_launch("adam_update");
}

}  // namespace cuda
}  // namespace flexconv
