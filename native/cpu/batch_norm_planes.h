// The plane loops of batch norm (cpu/batch_norm.cc), compiled once per instruction set
// (cpu/batch_norm_planes_isa.cc, core/isa.h). Each works on one image's planes of a run of
// channels (PlaneRun) and treats every plane on its own; batch_norm.cc walks the images, so each
// channel's plane sums are added in image order.
//
// Sums are taken in float vector lanes over blocks of kBatchNormBlock elements (four vectors of
// lanes at a time, so that the additions do not wait on each other), each block's lanes added
// in double, and the elements past the last whole vector in double: the error stays that of a
// short float sum for planes of any size. Lane counts differ between instruction sets, so the
// sums agree between them to float rounding, and are the same bits at any thread count.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

constexpr std::int64_t kBatchNormBlock = 2048;

// The incoming gradient of a run of planes: dy, or dy through ReLU's mask (dy where out > 0,
// else +0) when `out` (the ReLU's output) is given.
struct BatchNormGradPlane {
  const float* dy;
  const float* out;  // null: no ReLU
};

// The coefficients of one plane's grad_x: in training k * (g - dy_mean - (x - mean) * proj); in
// eval dy_mean and proj are 0. grad_residual (when not null) gets g itself, from the same reads.
struct BatchNormGradInput {
  float k, dy_mean, mean, proj;
};

// `planes` consecutive planes of `hw` floats: one image's planes of a run of channels (a thread's
// share). Per-plane values (means, sums, coefficients) are arrays indexed by the plane's place in
// the run. One call per run, not per plane: on 4x4 maps a call per plane had cost more than the
// plane's arithmetic.
struct PlaneRun {
  std::int64_t planes, hw;
};

#define FLEXCONV_BATCH_NORM_PLANES_ISA_API                                                                      \
  /* sums[j] += the sum of plane j */                                                                           \
  void batch_norm_sums(const float* x, PlaneRun r, double* sums);                                               \
  /* squares[j] += the sum of (x - mean[j])^2 over plane j */                                                   \
  void batch_norm_centered_squares(const float* x, PlaneRun r, const float* mean, double* squares);             \
  /* sum_g[j] += the sum of g, sum_g_xmu[j] += the sum of g * (x - mean[j]) over plane j */                     \
  void batch_norm_grad_sums(const float* x, BatchNormGradPlane g, PlaneRun r, const float* mean, double* sum_g, \
                            double* sum_g_xmu);                                                                 \
  /* plane j: y = relu?(x * a[j] + b[j] + residual?) */                                                         \
  void batch_norm_normalize(const float* x, const float* residual, bool relu, const float* a, const float* b,   \
                            PlaneRun r, float* y);                                                              \
  /* plane j with the coefficients c[j] */                                                                      \
  void batch_norm_grad_input(const float* x, BatchNormGradPlane g, const BatchNormGradInput* c, PlaneRun r,     \
                             float* grad_x, float* grad_residual);                                              \
  /* grad_residual = g alone over n floats (no input gradient asked for) */                                     \
  void batch_norm_gated_grad(BatchNormGradPlane g, std::int64_t n, float* grad_residual);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_BATCH_NORM_PLANES_ISA_API)
#undef FLEXCONV_BATCH_NORM_PLANES_ISA_API

}  // namespace cpu
}  // namespace flexconv
