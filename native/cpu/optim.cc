#include "ops/optim.h"

#include "core/thread_pool.h"

namespace flexconv {
namespace cpu {

namespace {
// Big enough that threading pays for itself; updates are memory-bound.
constexpr std::int64_t kGrain = 1 << 15;

// __restrict: parameters, gradients and state never overlap, so the loop vectorises without
// run-time alias checks.
template <bool kAmsgrad>
void adam_range(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                float* __restrict vmax, std::int64_t begin, std::int64_t end, const optim::AdamScalars& s) {
  const optim::AdamScalars local = s;
  for (std::int64_t i = begin; i < end; ++i) optim::adam_element<kAmsgrad>(p, g, m, v, vmax, i, local);
}
}  // namespace

void sgd_update(float* p, const float* g, float* buf, std::int64_t n, const optim::SgdScalars& s) {
  parallel_for(
      n,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) optim::sgd_element(p, g, buf, i, s);
      },
      kGrain);
}

void adam_update(float* p, const float* g, float* m, float* v, float* vmax, std::int64_t n,
                 const optim::AdamScalars& s) {
  parallel_for(
      n,
      [&](std::int64_t begin, std::int64_t end) {
        if (s.amsgrad)
          adam_range<true>(p, g, m, v, vmax, begin, end, s);
        else
          adam_range<false>(p, g, m, v, vmax, begin, end, s);
      },
      kGrain);
}

}  // namespace cpu
}  // namespace flexconv
