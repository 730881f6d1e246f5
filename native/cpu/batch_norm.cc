// CPU batch norm, with the residual block's epilogue (+ residual, ReLU) in the same passes when
// asked. Work is split by channel: every channel's statistics and outputs belong to
// one thread, so results do not depend on the thread count; each thread walks its channels'
// planes image by image (for_each_channel_plane). Plane sums use several float
// accumulators (vectorisable) over short blocks, combined in double.
#include "ops/batch_norm.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/plane_loops.h"

namespace flexconv {
namespace cpu {
namespace {

// Reductions over one plane: 8 independent float lanes (vectorisable) over blocks of
// kBlock elements, each block's total added in double, so the error stays that of a short
// float sum even for very large planes.
constexpr std::int64_t kBlock = 2048;

template <typename Term>
double blocked_sum(std::int64_t n, Term term) {
  double total = 0;
  for (std::int64_t b = 0; b < n; b += kBlock) {
    const std::int64_t e = b + kBlock < n ? b + kBlock : n;
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t i = b;
    for (; i + 8 <= e; i += 8)
      for (int l = 0; l < 8; ++l) lanes[l] += term(i + l);
    for (int l = 0; l < 8; ++l) total += lanes[l];
    for (; i < e; ++i) total += term(i);
  }
  return total;
}

double plane_sum(const float* p, std::int64_t n) {
  return blocked_sum(n, [p](std::int64_t i) { return p[i]; });
}

double plane_centered_sq(const float* p, std::int64_t n, float mean) {
  return blocked_sum(n, [p, mean](std::int64_t i) {
    const float d = p[i] - mean;
    return d * d;
  });
}

// The incoming gradient of one plane: dy itself, or through ReLU's mask (out > 0, `out` the
// ReLU's output). Two types, so that each plane loop is compiled without a per-element test.
struct PlainGrad {
  const float* dy;
  float operator()(std::int64_t i) const { return dy[i]; }
};
struct MaskedGrad {
  const float* dy;
  const float* out;
  // dy or +0, selected by bits: written as `out > 0 ? dy : 0` the compiler branched, and random
  // signs mispredicted half the time (the fused backward ran 2x slower than the separate ops).
  float operator()(std::int64_t i) const {
    std::uint32_t bits;
    std::memcpy(&bits, dy + i, sizeof bits);
    bits &= out[i] > 0.0f ? 0xFFFFFFFFu : 0u;
    float v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
};

// sum(dy) and sum(dy * (x - mean)) over one plane.
template <class Grad>
void plane_grad_sums(const float* x, Grad dy, std::int64_t n, float mean, double* sum_dy, double* sum_dy_xmu) {
  *sum_dy += blocked_sum(n, dy);
  *sum_dy_xmu += blocked_sum(n, [x, dy, mean](std::int64_t i) { return dy(i) * (x[i] - mean); });
}

// Runs fn(grad) with plane `off`'s incoming gradient as PlainGrad or MaskedGrad.
template <class Fn>
void with_plane_grad(const float* dy, const float* out, std::int64_t off, Fn fn) {
  if (out) {
    fn(MaskedGrad{dy + off, out + off});
  } else {
    fn(PlainGrad{dy + off});
  }
}

// y = relu?(x * a + b + residual?) over one plane; the variants are separate loops so that each
// vectorises.
void normalize_plane(const float* x, const float* residual, bool relu, float a, float b, std::int64_t n, float* y) {
  if (residual && relu) {
    for (std::int64_t i = 0; i < n; ++i) {
      const float v = x[i] * a + b + residual[i];
      y[i] = v < 0.0f ? 0.0f : v;  // NaN stays NaN, as torch.relu
    }
  } else if (residual) {
    for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] * a + b + residual[i];
  } else if (relu) {
    for (std::int64_t i = 0; i < n; ++i) {
      const float v = x[i] * a + b;
      y[i] = v < 0.0f ? 0.0f : v;
    }
  } else {
    for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] * a + b;
  }
}

}  // namespace

void batch_norm_forward(const BatchNormShape& s, const float* x, float* y, float* running_mean, float* running_var,
                        const float* weight, const float* bias, float* save_mean, float* save_invstd, bool training,
                        float momentum, float eps) {
  batch_norm_forward_fused(s, x, y, running_mean, running_var, weight, bias, save_mean, save_invstd, training, momentum,
                           eps, nullptr, false);
}

void batch_norm_forward_fused(const BatchNormShape& s, const float* x, float* y, float* running_mean,
                              float* running_var, const float* weight, const float* bias, float* save_mean,
                              float* save_invstd, bool training, float momentum, float eps, const float* residual,
                              bool relu) {
  const std::int64_t count = s.n * s.hw;
  parallel_for(s.c, [&](std::int64_t c0, std::int64_t c1) {
    const auto planes = [&](auto fn) { for_each_channel_plane(s.n, s.c, s.hw, c0, c1, fn); };
    if (training) {
      // Each channel's plane sums are added in image order, as a channel-by-channel loop would.
      std::vector<double> sum(static_cast<size_t>(c1 - c0)), sq(static_cast<size_t>(c1 - c0));
      planes([&](std::int64_t c, std::int64_t off) { sum[c - c0] += plane_sum(x + off, s.hw); });
      for (std::int64_t c = c0; c < c1; ++c)
        save_mean[c] = static_cast<float>(sum[c - c0] / static_cast<double>(count));
      planes([&](std::int64_t c, std::int64_t off) { sq[c - c0] += plane_centered_sq(x + off, s.hw, save_mean[c]); });
      for (std::int64_t c = c0; c < c1; ++c) {
        const double var = sq[c - c0] / static_cast<double>(count);
        save_invstd[c] = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
        if (running_mean != nullptr) {
          running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * save_mean[c];
        }
        if (running_var != nullptr) {
          const double unbiased = count > 1 ? sq[c - c0] / static_cast<double>(count - 1) : var;
          running_var[c] = static_cast<float>((1.0 - momentum) * running_var[c] + momentum * unbiased);
        }
      }
    } else {
      for (std::int64_t c = c0; c < c1; ++c) {
        save_mean[c] = running_mean[c];
        save_invstd[c] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps));
      }
    }
    planes([&](std::int64_t c, std::int64_t off) {
      // y = x * a + b with the normalisation and the affine transform folded together.
      const float a = save_invstd[c] * (weight ? weight[c] : 1.0f);
      const float b = (bias ? bias[c] : 0.0f) - save_mean[c] * a;
      normalize_plane(x + off, residual ? residual + off : nullptr, relu, a, b, s.hw, y + off);
    });
  });
}

void batch_norm_backward(const BatchNormShape& s, const float* x, const float* dy, const float* save_mean,
                         const float* save_invstd, const float* weight, float* grad_x, float* grad_weight,
                         float* grad_bias, bool training) {
  batch_norm_backward_fused(s, x, dy, nullptr, save_mean, save_invstd, weight, grad_x, grad_weight, grad_bias, nullptr,
                            training);
}

void batch_norm_backward_fused(const BatchNormShape& s, const float* x, const float* dy, const float* out,
                               const float* save_mean, const float* save_invstd, const float* weight, float* grad_x,
                               float* grad_weight, float* grad_bias, float* grad_residual, bool training) {
  const std::int64_t count = s.n * s.hw;
  parallel_for(s.c, [&](std::int64_t c0, std::int64_t c1) {
    const auto planes = [&](auto fn) { for_each_channel_plane(s.n, s.c, s.hw, c0, c1, fn); };
    std::vector<double> sum_dy(static_cast<size_t>(c1 - c0)), sum_dy_xmu(static_cast<size_t>(c1 - c0));
    planes([&](std::int64_t c, std::int64_t off) {
      with_plane_grad(dy, out, off, [&](auto g) {
        plane_grad_sums(x + off, g, s.hw, save_mean[c], &sum_dy[c - c0], &sum_dy_xmu[c - c0]);
      });
    });
    for (std::int64_t c = c0; c < c1; ++c) {
      if (grad_weight) grad_weight[c] = static_cast<float>(sum_dy_xmu[c - c0] * save_invstd[c]);
      if (grad_bias) grad_bias[c] = static_cast<float>(sum_dy[c - c0]);
    }
    if (!grad_x) {
      if (!grad_residual) return;
      planes([&](std::int64_t, std::int64_t off) {
        with_plane_grad(dy, out, off, [&](auto g) {
          for (std::int64_t i = 0; i < s.hw; ++i) grad_residual[off + i] = g(i);
        });
      });
      return;
    }
    planes([&](std::int64_t c, std::int64_t off) {
      // training: dx = w*invstd * (dy - mean(dy) - (x-mean) * invstd^2 * mean(dy*(x-mean)))
      // eval:     dx = w*invstd * dy
      const float invstd = save_invstd[c], mean = save_mean[c];
      const float k = (weight ? weight[c] : 1.0f) * invstd;
      const float dy_mean = training ? static_cast<float>(sum_dy[c - c0] / static_cast<double>(count)) : 0.0f;
      const float proj =
          training ? static_cast<float>(sum_dy_xmu[c - c0] / static_cast<double>(count)) * invstd * invstd : 0.0f;
      const float* xp = x + off;
      float* gp = grad_x + off;
      with_plane_grad(dy, out, off, [&](auto g) {
        if (grad_residual) {
          // The residual's gradient in the same pass, from the same reads of dy and out.
          float* rp = grad_residual + off;
          for (std::int64_t i = 0; i < s.hw; ++i) {
            const float gi = g(i);
            rp[i] = gi;
            gp[i] = k * (gi - dy_mean - (xp[i] - mean) * proj);
          }
        } else {
          for (std::int64_t i = 0; i < s.hw; ++i) gp[i] = k * (g(i) - dy_mean - (xp[i] - mean) * proj);
        }
      });
    });
  });
}

}  // namespace cpu
}  // namespace flexconv
