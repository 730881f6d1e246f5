// Fused in-place optimizer updates on CUDA memory (same math as cpu/optim.h).
#pragma once
#include <cstdint>

#include "math/optim.h"

namespace flexconv {
namespace cuda {

void sgd_update(float* p, const float* g, float* buf, std::int64_t n, const optim::SgdScalars& s);
void adam_update(float* p, const float* g, float* m, float* v, float* vmax, std::int64_t n,
                 const optim::AdamScalars& s);

}  // namespace cuda
}  // namespace flexconv
