// The plane loops of batch norm (cpu/batch_norm_planes.h), written once against the lane type of
// core/lanes.h and compiled once per instruction set (core/isa.h). Before, they were plain loops
// in batch_norm.cc at the baseline instruction set (SSE2): its sums were one chain of 8 float
// lanes (each addition waiting on the one before) and its masks 4 lanes wide.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/lanes.h"
#include "cpu/batch_norm_planes.h"

FLEXCONV_ISA_BEGIN
namespace {

using lanes::F32;
constexpr std::int64_t kWidth = F32::kWidth;
// Independent accumulators per sum: a sum's vector additions alternate between them, so that
// each waits on the addition four vectors back instead of the last one.
constexpr int kSets = 4;
static_assert(kBatchNormBlock % (kSets * kWidth) == 0, "a block is a whole number of accumulator rounds");

// Whole vectors and the last, partial one: a loop body written once for both (`auto part`).
struct Whole {
  F32 load(const float* p) const { return F32::loadu(p); }
  void store(float* p, F32 v) const { v.storeu(p); }
};
struct Part {
  int count;
  F32 load(const float* p) const { return F32::load_first(p, count); }
  void store(float* p, F32 v) const { v.store_first(p, count); }
};

// fn(part, i) for the vectors of [0, n).
template <class Fn>
void for_each_vector(std::int64_t n, Fn fn) {
  std::int64_t i = 0;
  for (; i + kWidth <= n; i += kWidth) fn(Whole{}, i);
  if (i < n) fn(Part{static_cast<int>(n - i)}, i);
}

// The incoming gradient g as a type per case, so that no loop tests per element.
struct PlainGrad {
  const float* dy;
  template <class P>
  F32 load(P part, std::int64_t i) const {
    return part.load(dy + i);
  }
  float scalar(std::int64_t i) const { return dy[i]; }
};
struct GatedGrad {
  const float* dy;
  const float* out;
  template <class P>
  F32 load(P part, std::int64_t i) const {
    return lanes::keep_where_positive(part.load(out + i), part.load(dy + i));
  }
  float scalar(std::int64_t i) const { return out[i] > 0.0f ? dy[i] : 0.0f; }
};

template <class Fn>
void with_grad(BatchNormGradPlane g, Fn fn) {
  if (g.out) {
    fn(GatedGrad{g.dy, g.out});
  } else {
    fn(PlainGrad{g.dy});
  }
}

// sums[k] += the sum over [0, n) of the K terms that step(i, acc) adds into acc[0..K) for the
// whole vector at i; tail(i, sums) adds the elements past the last whole vector in double.
// Blocks of kBatchNormBlock elements; a block's accumulators are added (a fixed tree) and its
// lanes widened and added in double (cpu/batch_norm_planes.h).
template <int K, class Step, class Tail>
void blocked_sums(std::int64_t n, Step step, Tail tail, double* sums) {
  const std::int64_t whole = n - n % kWidth;
  for (std::int64_t b = 0; b < whole; b += kBatchNormBlock) {
    const std::int64_t e = std::min(whole, b + kBatchNormBlock);
    F32 acc[kSets][K];
    for (auto& set : acc)
      for (F32& a : set) a = F32::zero();
    std::int64_t i = b;
    for (; i + kSets * kWidth <= e; i += kSets * kWidth)
      for (int s = 0; s < kSets; ++s) step(i + s * kWidth, acc[s]);
    for (int s = 0; i < e; i += kWidth, ++s) step(i, acc[s]);  // fewer than kSets vectors are left
    for (int k = 0; k < K; ++k)
      sums[k] += lanes::sum_in_double(lanes::add(lanes::add(acc[0][k], acc[1][k]), lanes::add(acc[2][k], acc[3][k])));
  }
  for (std::int64_t i = whole; i < n; ++i) tail(i, sums);
}

}  // namespace

void batch_norm_sums(const float* x, PlaneRun r, double* sums) {
  for (std::int64_t j = 0; j < r.planes; ++j, x += r.hw) {
    blocked_sums<1>(
        r.hw, [x](std::int64_t i, F32* acc) { acc[0] = lanes::add(acc[0], F32::loadu(x + i)); },
        [x](std::int64_t i, double* s) { s[0] += x[i]; }, sums + j);
  }
}

void batch_norm_centered_squares(const float* x, PlaneRun r, const float* mean, double* squares) {
  for (std::int64_t j = 0; j < r.planes; ++j, x += r.hw) {
    const float mj = mean[j];
    const F32 m = F32::splat(mj);
    blocked_sums<1>(
        r.hw,
        [x, m](std::int64_t i, F32* acc) {
          const F32 d = lanes::sub(F32::loadu(x + i), m);
          acc[0] = lanes::fmadd(d, d, acc[0]);
        },
        [x, mj](std::int64_t i, double* s) {
          const float d = x[i] - mj;
          s[0] += d * d;
        },
        squares + j);
  }
}

void batch_norm_grad_sums(const float* x, BatchNormGradPlane g, PlaneRun r, const float* mean, double* sum_g,
                          double* sum_g_xmu) {
  with_grad(g, [&](auto grad) {
    for (std::int64_t j = 0; j < r.planes; ++j) {
      const std::int64_t at = j * r.hw;
      const float mj = mean[j];
      const F32 m = F32::splat(mj);
      double sums[2] = {0, 0};
      blocked_sums<2>(
          r.hw,
          [&](std::int64_t i, F32* acc) {
            const F32 gv = grad.load(Whole{}, at + i);
            acc[0] = lanes::add(acc[0], gv);
            acc[1] = lanes::fmadd(gv, lanes::sub(F32::loadu(x + at + i), m), acc[1]);
          },
          [&](std::int64_t i, double* s) {
            const float gi = grad.scalar(at + i);
            s[0] += gi;
            s[1] += gi * (x[at + i] - mj);
          },
          sums);
      sum_g[j] += sums[0];
      sum_g_xmu[j] += sums[1];
    }
  });
}

void batch_norm_normalize(const float* x, const float* residual, bool relu, const float* a, const float* b, PlaneRun r,
                          float* y) {
  // The four variants as separate loops, none testing per vector.
  const auto run = [&](auto with_residual, auto with_relu) {
    for (std::int64_t j = 0; j < r.planes; ++j) {
      const std::int64_t at = j * r.hw;
      const F32 av = F32::splat(a[j]), bv = F32::splat(b[j]);
      for_each_vector(r.hw, [&](auto part, std::int64_t i) {
        F32 v = lanes::fmadd(part.load(x + at + i), av, bv);
        if constexpr (decltype(with_residual)::value) v = lanes::add(v, part.load(residual + at + i));
        if constexpr (decltype(with_relu)::value) v = lanes::relu(v);
        part.store(y + at + i, v);
      });
    }
  };
  using Yes = std::true_type;
  using No = std::false_type;
  if (residual && relu) {
    run(Yes{}, Yes{});
  } else if (residual) {
    run(Yes{}, No{});
  } else if (relu) {
    run(No{}, Yes{});
  } else {
    run(No{}, No{});
  }
}

void batch_norm_grad_input(const float* x, BatchNormGradPlane g, const BatchNormGradInput* c, PlaneRun r, float* grad_x,
                           float* grad_residual) {
  with_grad(g, [&](auto grad) {
    for (std::int64_t j = 0; j < r.planes; ++j) {
      const std::int64_t at = j * r.hw;
      const F32 k = F32::splat(c[j].k), dy_mean = F32::splat(c[j].dy_mean), mean = F32::splat(c[j].mean),
                proj = F32::splat(c[j].proj);
      for_each_vector(r.hw, [&](auto part, std::int64_t i) {
        const F32 gv = grad.load(part, at + i);
        // The residual's gradient from the same reads of dy and out.
        if (grad_residual) part.store(grad_residual + at + i, gv);
        const F32 centered = lanes::sub(part.load(x + at + i), mean);
        part.store(grad_x + at + i, lanes::mul(k, lanes::sub(lanes::sub(gv, dy_mean), lanes::mul(centered, proj))));
      });
    }
  });
}

void batch_norm_gated_grad(BatchNormGradPlane g, std::int64_t n, float* grad_residual) {
  with_grad(g, [&](auto grad) {
    for_each_vector(n, [&](auto part, std::int64_t i) { part.store(grad_residual + i, grad.load(part, i)); });
  });
}

FLEXCONV_ISA_END
