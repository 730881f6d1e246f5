// Direct kernels for depthwise convolution (groups == in_channels, any channel multiplier):
// each output plane reads exactly one input plane, so a GEMM would have K = kh*kw and waste
// most of its packing. Work is split by plane: every thread writes only its own planes.
//
// Each input plane is first copied with its zero border, and for stride s each padded row split
// into s phases (columns p, p + s, p + 2s, ... for p < s), so that tap (i, j) of a vector of
// consecutive outputs is one contiguous load at any stride and dilation. The kernels then keep a
// few output rows' vectors in registers across the taps (an output plane used to be read and
// written once per tap: 8 GFLOP/s, far below what the plane's bytes allow). At stride 2 the
// forward sums whole rows and keeps every other lane instead. The input gradient of a layer with
// one output per channel is the same kernel, stride 1, over grad_out spread stride apart with
// zeros between, with the flipped kernel (at stride 1: the forward of grad_out, its border as
// padding); the weight gradient sums vectors of grad_out x the shifted input per tap.
//
// Maps whose input rows fit two vectors and output rows one (3x3, stride 1 or 2, no dilation:
// 7x7, 14x14 and stride-2 28x28 maps under AVX-512) skip the copy: each input row is loaded
// once into registers and its three tap columns are lane remaps of it (lanes::remap), for the
// forward, the weight gradient and the stride-2 input gradient. Small planes also go several to
// a task (cpu/plane_tasks.h).
#pragma once
#include <cstdint>

#include "core/isa.h"
#include "math/conv_geometry.h"
#include "ops/conv2d.h"

namespace flexconv {
namespace cpu {

// The forward with its epilogue (residual, ReLU) in the output pass.
void depthwise_forward(const math::Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                       float* out, const ConvEpilogue& ep);
void depthwise_backward_input(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,
                              float* grad_input);
void depthwise_backward_weight(const math::Conv2dGeometry& g, const float* grad_out, const float* input,
                               float* grad_weight);

// One input plane, bordered and split into phases (see above): padded row r >= first_row, phase
// p at bordered + (r - first_row) * row + p * phase. With `pick` 2 (the forward at stride 2) the
// rows are not split: the kernel sums a vector of consecutive columns and keeps every other lane
// (twice the multiply-adds of a phased copy, which cost more to deal than they save).
struct PhasedPlane {
  const float* bordered;
  std::int64_t first_row, row, phase;
  int pick;
};

// One output plane as the forward kernels write it: out = sums + residual (or null), then ReLU.
struct OutputPlane {
  float* out;
  const float* residual;
  bool relu;
};

// The per-instruction-set bodies (cpu/conv2d_depthwise_isa.cc). `offsets[t]` is where tap t of
// an output row's first pixel reads, relative to the padded row its first tap row reads
// (depthwise_tap_offsets).
#define FLEXCONV_DEPTHWISE_ISA_API                                                                                    \
  /* Output rows [oy0, oy1) of one output plane from its input plane: bias + sum over taps, the epilogue. */          \
  void depthwise_rows(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets,              \
                      const float* taps, float bias, const OutputPlane& out, std::int64_t oy0, std::int64_t oy1);     \
  /* sums[t] += the sum over one output plane of grad_out x the input tap t reads, for count <= 9 taps. */            \
  void depthwise_tap_sums(const math::Conv2dGeometry& g, const PhasedPlane& in, const std::int64_t* offsets,          \
                          int count, const float* grad_plane, double* sums);                                          \
  /* Output rows [oy0, oy1) of the output planes of input planes [plane0, plane1) (image * channels + channel)        \
     of a 3x3, dilation-1, stride-1 or -2 layer whose input rows fit two vectors and output rows one                  \
     (depthwise_vector_width): each input row loaded once and its three taps lane remaps of that register, no         \
     bordered copy. The same sums in the same order as depthwise_rows. */                                             \
  void depthwise_planes_in_registers(const math::Conv2dGeometry& g, const float* input, const float* weight,          \
                                     const float* bias, const ConvEpilogue& ep, float* out, std::int64_t plane0,      \
                                     std::int64_t plane1, std::int64_t oy0, std::int64_t oy1);                        \
  /* grad_weight[o] (9 floats) of a layer that fits depthwise_planes_in_registers, over every image in order,         \
     one vector of sums per tap across the images. */                                                                 \
  void depthwise_weight_grad_in_registers(const math::Conv2dGeometry& g, const float* grad_out, const float* input,   \
                                          std::int64_t o, float* grad_weight);                                        \
  /* Input-gradient planes [plane0, plane1) of a stride-2 layer with one output per channel that fits                 \
     depthwise_planes_in_registers: each grad_out row loaded once per tap row, its taps lane remaps (at stride        \
     1 the forward over grad_out is faster: its rows share their remaps). */                                          \
  void depthwise_input_grad_in_registers(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,   \
                                         float* grad_input, std::int64_t plane0, std::int64_t plane1);                \
  int depthwise_vector_width();                                                                                       \
  /* Padded rows [r0, r0 + rows) of one input plane, `row` floats each (pad_w zeros, the input row cut at             \
     row, zeros): the copy of a layout with one phase. Writes up to one vector less a float past the end. */          \
  void depthwise_bordered_rows(const math::Conv2dGeometry& g, const float* plane, std::int64_t r0, std::int64_t rows, \
                               std::int64_t row, float* dst);                                                         \
  /* The plain per-row loops, for the input gradient of multipliers above one or padding past the kernel. */          \
  void depthwise_backward_input_planes(const math::Conv2dGeometry& g, const float* grad_out, const float* weight,     \
                                       float* grad_input, std::int64_t t0, std::int64_t t1);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_DEPTHWISE_ISA_API)
#undef FLEXCONV_DEPTHWISE_ISA_API

}  // namespace cpu
}  // namespace flexconv
