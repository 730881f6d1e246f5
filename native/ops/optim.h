// Fused in-place optimizer updates (the scalars and per-element formulas: math/optim.h): the
// contract both backends implement (cpu/optim.cc, threaded over contiguous ranges; cuda/optim.cu).
#pragma once
#include <cstdint>

#include "math/optim.h"

namespace flexconv {

#define FLEXCONV_OPTIM_ENTRY_POINTS                                                                  \
  void sgd_update(float* p, const float* g, float* buf, std::int64_t n, const optim::SgdScalars& s); \
  void adam_update(float* p, const float* g, float* m, float* v, float* vmax, std::int64_t n,        \
                   const optim::AdamScalars& s);

namespace cpu {
FLEXCONV_OPTIM_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_OPTIM_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_OPTIM_ENTRY_POINTS

}  // namespace flexconv
