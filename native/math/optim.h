// Per-element optimizer updates shared by the CPU and CUDA kernels (PyTorch's formulas,
// see lib/optim/sgd.ts and lib/optim/adam.ts). Scalars that depend only on the step (bias
// corrections, step size) are computed once per tensor by the caller.
#pragma once
#include <cmath>

#include "math/hd.h"

namespace flexconv {
namespace optim {

struct SgdScalars {
  float lr, momentum, keep_grad /* 1 - dampening */, weight_decay, sign /* -1 to maximize */;
  bool nesterov, first /* the momentum buffer starts as the first gradient */;
};

struct AdamScalars {
  float decay;         // 1 - lr * weight_decay for AdamW, 1 for Adam
  float l2;            // weight_decay for Adam, 0 for AdamW
  float beta1, beta2;  // moment decay rates
  float step_size;     // lr / (1 - beta1^t)
  float inv_bc2_sqrt;  // 1 / sqrt(1 - beta2^t)
  float eps, sign;
  bool amsgrad;  // which adam_element<> the kernels run
};

// SGD with momentum (buf may be null when momentum == 0).
FLEXCONV_HD void sgd_element(float* p, const float* g, float* buf, long long i, const SgdScalars& s) {
  float d = s.sign * g[i] + s.weight_decay * p[i];
  if (buf != nullptr) {
    float m = s.first ? d : s.momentum * buf[i] + s.keep_grad * d;
    buf[i] = m;
    d = s.nesterov ? d + s.momentum * m : m;
  }
  p[i] -= s.lr * d;
}

// Adam / AdamW, AMSGrad when kAmsgrad (vmax is only touched then). A template so the CPU
// loops have no data-dependent branch and vectorise.
template <bool kAmsgrad>
FLEXCONV_HD void adam_element(float* p, const float* g, float* m, float* v, float* vmax, long long i,
                              const AdamScalars& s) {
  float pi = p[i] * s.decay;
  float gi = s.sign * g[i] + s.l2 * pi;
  float mi = s.beta1 * m[i] + (1.0f - s.beta1) * gi;
  float vi = s.beta2 * v[i] + (1.0f - s.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  if (kAmsgrad) {
    vi = vmax[i] > vi ? vmax[i] : vi;
    vmax[i] = vi;
  }
  p[i] = pi - s.step_size * mi / (sqrtf(vi) * s.inv_bc2_sqrt + s.eps);
}

}  // namespace optim
}  // namespace flexconv
