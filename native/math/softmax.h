// Per-row formulas of softmax and the fused cross-entropy, shared by cpu/ and cuda/. A "row"
// is the n values x[k * inner] (k < n) of one (outer, inner) position.
#pragma once
#include <cmath>

#include "math/hd.h"
#include "math/pointwise.h"

namespace flexconv {
namespace math {

// The row's maximum m and log(sum_k exp(x_k - m)): logsumexp = m + logz. Kept apart so
// that x - logsumexp is computed as (x - m) - logz, which is exact in float32 for the
// largest entries even when the logits are in the thousands.
FLEXCONV_HD void row_max_logz(const float* x, long long n, long long inner, float* m_out, float* logz_out) {
  float m = -INFINITY;
  for (long long k = 0; k < n; ++k) m = fmaxf(m, x[k * inner]);
  float s = 0.0f;
  for (long long k = 0; k < n; ++k) s += vexpf(x[k * inner] - m);
  *m_out = m;
  *logz_out = logf(s);
}

// Cross-entropy of one row with class t and label smoothing eps (PyTorch's definition):
//   (1 - eps) * (lse - x_t) + eps / C * sum_c (lse - x_c)  =  lse - (1 - eps) x_t - eps/C sum_c x_c
FLEXCONV_HD float row_cross_entropy(const float* x, long long n, long long inner, long long t, float m, float logz,
                                    float eps) {
  float sum_shifted = 0.0f;  // sum_c (x_c - m)
  if (eps != 0.0f) {
    for (long long k = 0; k < n; ++k) sum_shifted += x[k * inner] - m;
  }
  return logz - (1.0f - eps) * (x[t * inner] - m) - eps / static_cast<float>(n) * sum_shifted;
}

// d loss / d x_c = softmax_c - (1 - eps) [c == t] - eps / C
FLEXCONV_HD float cross_entropy_grad(float x, float m, float logz, bool is_target, float eps, float inv_classes) {
  return vexpf((x - m) - logz) - (is_target ? 1.0f - eps : 0.0f) - eps * inv_classes;
}

}  // namespace math
}  // namespace flexconv
