// CPU batch norm, with the residual block's epilogue (+ residual, ReLU) in the same passes when
// asked. Work is split by channel: every channel's statistics and outputs belong to
// one thread, so results do not depend on the thread count; each thread walks its channels'
// planes image by image (for_each_image_run: one image's planes of those channels are adjacent)
// and runs the plane loops of cpu/batch_norm_planes.h (float lanes over short blocks, combined in
// double) on each image's run of them.
#include "ops/batch_norm.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/thread_pool.h"
#include "cpu/batch_norm_planes.h"
#include "cpu/plane_loops.h"

namespace flexconv {
namespace cpu {

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
  const auto sums_of = FLEXCONV_PICK_ISA(batch_norm_sums);
  const auto centered_squares = FLEXCONV_PICK_ISA(batch_norm_centered_squares);
  const auto normalize = FLEXCONV_PICK_ISA(batch_norm_normalize);
  parallel_for(s.c, [&](std::int64_t c0, std::int64_t c1) {
    const PlaneRun run{c1 - c0, s.hw};
    // fn(offset of image n's plane of channel c0), image by image (for_each_image_run).
    const auto runs = [&](auto fn) { for_each_image_run(s.n, s.c, s.hw, c0, fn); };
    if (training) {
      // Each channel's plane sums are added in image order, as a channel-by-channel loop would.
      std::vector<double> sums(static_cast<size_t>(c1 - c0)), sq(static_cast<size_t>(c1 - c0));
      runs([&](std::int64_t off) { sums_of(x + off, run, sums.data()); });
      for (std::int64_t c = c0; c < c1; ++c)
        save_mean[c] = static_cast<float>(sums[c - c0] / static_cast<double>(count));
      runs([&](std::int64_t off) { centered_squares(x + off, run, save_mean + c0, sq.data()); });
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
    // y = x * a + b with the normalisation and the affine transform folded together.
    std::vector<float> a(static_cast<size_t>(c1 - c0)), b(static_cast<size_t>(c1 - c0));
    for (std::int64_t c = c0; c < c1; ++c) {
      a[c - c0] = save_invstd[c] * (weight ? weight[c] : 1.0f);
      b[c - c0] = (bias ? bias[c] : 0.0f) - save_mean[c] * a[c - c0];
    }
    runs([&](std::int64_t off) {
      normalize(x + off, residual ? residual + off : nullptr, relu, a.data(), b.data(), run, y + off);
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
  const auto grad_sums = FLEXCONV_PICK_ISA(batch_norm_grad_sums);
  const auto grad_input = FLEXCONV_PICK_ISA(batch_norm_grad_input);
  const auto gated_grad = FLEXCONV_PICK_ISA(batch_norm_gated_grad);
  // The incoming gradient from offset `off` on (through ReLU's mask when `out` is given).
  const auto grad_at = [dy, out](std::int64_t off) { return BatchNormGradPlane{dy + off, out ? out + off : nullptr}; };
  parallel_for(s.c, [&](std::int64_t c0, std::int64_t c1) {
    const PlaneRun run{c1 - c0, s.hw};
    const auto runs = [&](auto fn) { for_each_image_run(s.n, s.c, s.hw, c0, fn); };
    std::vector<double> sum_dy(static_cast<size_t>(c1 - c0)), sum_dy_xmu(static_cast<size_t>(c1 - c0));
    runs([&](std::int64_t off) {
      grad_sums(x + off, grad_at(off), run, save_mean + c0, sum_dy.data(), sum_dy_xmu.data());
    });
    for (std::int64_t c = c0; c < c1; ++c) {
      if (grad_weight) grad_weight[c] = static_cast<float>(sum_dy_xmu[c - c0] * save_invstd[c]);
      if (grad_bias) grad_bias[c] = static_cast<float>(sum_dy[c - c0]);
    }
    if (!grad_x) {
      if (grad_residual) {
        runs([&](std::int64_t off) { gated_grad(grad_at(off), run.planes * run.hw, grad_residual + off); });
      }
      return;
    }
    // training: dx = w*invstd * (dy - mean(dy) - (x-mean) * invstd^2 * mean(dy*(x-mean)))
    // eval:     dx = w*invstd * dy
    std::vector<BatchNormGradInput> k(static_cast<size_t>(c1 - c0));
    for (std::int64_t c = c0; c < c1; ++c) {
      const float invstd = save_invstd[c];
      BatchNormGradInput& kc = k[c - c0];
      kc.k = (weight ? weight[c] : 1.0f) * invstd;
      kc.mean = save_mean[c];
      kc.dy_mean = training ? static_cast<float>(sum_dy[c - c0] / static_cast<double>(count)) : 0.0f;
      kc.proj = training ? static_cast<float>(sum_dy_xmu[c - c0] / static_cast<double>(count)) * invstd * invstd : 0.0f;
    }
    runs([&](std::int64_t off) {
      grad_input(x + off, grad_at(off), k.data(), run, grad_x + off, grad_residual ? grad_residual + off : nullptr);
    });
  });
}

}  // namespace cpu
}  // namespace flexconv
