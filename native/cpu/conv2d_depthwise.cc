// Depthwise conv2d, direct (see conv2d_depthwise.h): the phased, bordered copy of each input
// plane, the threads' split of the planes, and which kernel takes which gradient. The vector
// bodies live in conv2d_depthwise_isa.cc, compiled once per instruction set.
#include "cpu/conv2d_depthwise.h"

#include <algorithm>
#include <vector>

#include "core/alloc.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "cpu/bordered_rows.h"
#include "cpu/plane_tasks.h"

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

// Floats past each phase's last column that a vector load may touch (the widest vector).
constexpr std::int64_t kReadSlack = 16;
// Output rows per task when a batch has too few planes to give every thread some.
constexpr std::int64_t kMinRowsPerTask = 8;
// Rows up to this many floats are copied by vectors (depthwise_bordered_rows); longer ones by the
// library's fill and copy, which were 1.1-1.2x faster for 58-float rows (56x56 maps).
constexpr std::int64_t kShortRow = 48;
// Taps per pass of the weight-gradient kernel (its accumulators).
constexpr int kTapsPerPass = 9;

thread_local ThreadScratch t_plane;

// The copy's shape for g: each padded row is `phases` phases of `phase` floats; `pick` as in
// PhasedPlane.
struct PhaseLayout {
  std::int64_t phases, phase, row;
  int pick;
};
// Rows dealt into stride_w phases, or (`pick_stride2`, the forward at stride 2) kept whole.
PhaseLayout phase_layout(const Conv2dGeometry& g, bool pick_stride2) {
  // Outputs read up to column out_w - 1 + (kw - 1) dil_w / stride_w of a phase (of a whole row:
  // 2 (out_w - 1) + (kw - 1) dil_w). A vector's lanes past the last output read on into the
  // next phase or row (and the block's kReadSlack at its end): the forward drops those lanes,
  // the weight gradient does not load them.
  if (pick_stride2 && g.stride_w == 2) {
    const std::int64_t row = 2 * (g.out_w - 1) + (g.kernel_w - 1) * g.dil_w + 1;
    return {1, row, row, 2};
  }
  const std::int64_t phase = g.out_w + (g.kernel_w - 1) * g.dil_w / g.stride_w;
  return {g.stride_w, phase, phase * g.stride_w, 1};
}

// The columns [lo, hi) of a phase that hold input (the rest is border): the same for every row.
struct PhaseRange {
  std::int64_t lo, hi;
};

// Phase p of one padded row of a strided layer (its column k is input column p + k stride -
// pad_w), src null for a row of the border.
template <int kStride>
void deal_phase(const Conv2dGeometry& g, const float* src, std::int64_t p, PhaseRange in, std::int64_t length,
                float* out) {
  const std::int64_t stride = kStride ? kStride : g.stride_w;
  const std::int64_t lo = src ? in.lo : length, hi = src ? in.hi : length;
  for (std::int64_t k = 0; k < lo; ++k) out[k] = 0.0f;
  // (A constant stride of 2 vectorises; an index worked out and tested per element made the
  // copy cost 3-5x the convolution.)
  for (std::int64_t k = lo; k < hi; ++k) out[k] = src[k * stride + p - g.pad_w];
  for (std::int64_t k = hi; k < length; ++k) out[k] = 0.0f;
}

// Padded rows [r0, r0 + rows) of one input plane into dst, phased (conv2d_depthwise.h); zeros
// outside the image.
void copy_phased(const Conv2dGeometry& g, const float* plane, std::int64_t r0, std::int64_t rows, PhaseLayout l,
                 float* dst) {
  if (l.phases == 1 && l.row <= kShortRow) {
    FLEXCONV_PICK_ISA(depthwise_bordered_rows)(g, plane, r0, rows, l.row, dst);
    return;
  }
  constexpr std::int64_t kMaxDealtStride = 8;
  PhaseRange ranges[kMaxDealtStride] = {};
  for (std::int64_t p = 0; p < g.stride_w && p < kMaxDealtStride; ++p) {
    math::conv_valid_range(p - g.pad_w, g.stride_w, g.in_w, l.phase, &ranges[p].lo, &ranges[p].hi);
  }
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t iy = r0 + r - g.pad_h;
    const float* src = iy >= 0 && iy < g.in_h ? plane + iy * g.in_w : nullptr;
    float* out = dst + r * l.row;
    if (l.phases == 1) {
      bordered_row(src, g.in_w, g.pad_w, l.row, out);
      continue;
    }
    for (std::int64_t p = 0; p < g.stride_w; ++p) {
      PhaseRange range = ranges[std::min(p, kMaxDealtStride - 1)];
      if (p >= kMaxDealtStride) math::conv_valid_range(p - g.pad_w, g.stride_w, g.in_w, l.phase, &range.lo, &range.hi);
      if (g.stride_w == 2) {
        deal_phase<2>(g, src, p, range, l.phase, out + p * l.phase);
      } else {
        deal_phase<0>(g, src, p, range, l.phase, out + p * l.phase);
      }
    }
  }
}

// Where tap t of an output row's first pixel reads, relative to that row's first padded row.
std::vector<std::int64_t> tap_offsets(const Conv2dGeometry& g, PhaseLayout l) {
  std::vector<std::int64_t> off(static_cast<size_t>(g.kernel_h * g.kernel_w));
  for (std::int64_t i = 0; i < g.kernel_h; ++i) {
    for (std::int64_t j = 0; j < g.kernel_w; ++j) {
      const std::int64_t col = j * g.dil_w;
      off[static_cast<size_t>(i * g.kernel_w + j)] = i * g.dil_h * l.row + (col % l.phases) * l.phase + col / l.phases;
    }
  }
  return off;
}

// Padded rows output rows [oy0, oy1) read: from oy0 stride_h on.
std::int64_t rows_read(const Conv2dGeometry& g, std::int64_t oy0, std::int64_t oy1) {
  return (oy1 - 1 - oy0) * g.stride_h + (g.kernel_h - 1) * g.dil_h + 1;
}

// out[b, c * mult + m] for every image and multiplier m: `taps` holds each output channel's
// kernel (kh kw floats), `bias` one value per output channel or null. fill(plane, r0, rows, dst)
// writes the padded rows [r0, r0 + rows) of input plane `plane` (image b, channel c) in layout l.
template <class Fill>
void forward_planes(const Conv2dGeometry& g, PhaseLayout l, const float* taps, const float* bias, float* out,
                    const ConvEpilogue& ep, Fill fill) {
  const auto rows_kernel = FLEXCONV_PICK_ISA(depthwise_rows);
  const std::int64_t C = g.in_channels, O = g.out_channels, mult = O / C, KK = g.kernel_h * g.kernel_w;
  const std::int64_t P = g.out_h * g.out_w;
  const std::vector<std::int64_t> offsets = tap_offsets(g, l);
  const PlaneTasks split = plane_tasks(g.batch * C, g.out_h, mult * P, num_threads(), kMinRowsPerTask);
  parallel_tasks(split.tasks, [&](std::int64_t task, int) {
    const PlaneTasks::Range r = split.range(task);
    const std::int64_t rows = rows_read(g, r.oy0, r.oy1);
    AlignedBuffer<float> overflow;
    float* copy = t_plane.get(static_cast<size_t>(rows * l.row + kReadSlack), overflow);
    // (The copies write nothing but zeros past their rows.)
    std::fill(copy + rows * l.row, copy + rows * l.row + kReadSlack, 0.0f);
    const PhasedPlane in{copy, r.oy0 * g.stride_h, l.row, l.phase, l.pick};
    for (std::int64_t plane = r.unit0; plane < r.unit1; ++plane) {
      fill(plane, r.oy0 * g.stride_h, rows, copy);
      const std::int64_t b = plane / C, c = plane % C;
      for (std::int64_t m = 0; m < mult; ++m) {
        const std::int64_t o = c * mult + m;
        const OutputPlane to{out + (b * O + o) * P, ep.residual ? ep.residual + (b * O + o) * P : nullptr, ep.relu};
        rows_kernel(g, in, offsets.data(), taps + o * KK, bias ? bias[o] : 0.0f, to, r.oy0, r.oy1);
      }
    }
  });
}

// The input gradient of a depthwise conv with one output per channel, as a stride-1 depthwise
// conv (kernels flipped) of grad_out spread stride apart, zeros between, inside a border of
// dil (k - 1) - pad: input pixel iy then meets output oy through tap k - 1 - i exactly when
// oy stride - pad + i dil = iy. False where that border would be negative (padding wider than
// the kernel reaches).
bool backward_input_by_spreading(const Conv2dGeometry& g, const float* grad_out, const float* weight,
                                 float* grad_input) {
  const std::int64_t top = g.dil_h * (g.kernel_h - 1) - g.pad_h, left = g.dil_w * (g.kernel_w - 1) - g.pad_w;
  if (g.out_channels != g.in_channels || top < 0 || left < 0) return false;
  const std::int64_t KK = g.kernel_h * g.kernel_w, P = g.out_h * g.out_w;
  std::vector<float> flipped(static_cast<size_t>(g.out_channels * KK));
  for (std::int64_t o = 0; o < g.out_channels; ++o) {
    for (std::int64_t k = 0; k < KK; ++k) flipped[static_cast<size_t>(o * KK + k)] = weight[o * KK + KK - 1 - k];
  }
  if (g.stride_h == 1 && g.stride_w == 1) {
    // Nothing to spread: the forward of grad_out with that border as its padding (and so its
    // vector copy, or its rows in registers).
    Conv2dGeometry u = g;
    u.in_h = g.out_h;
    u.in_w = g.out_w;
    u.out_h = g.in_h;
    u.out_w = g.in_w;
    u.pad_h = top;
    u.pad_w = left;
    depthwise_forward(u, grad_out, flipped.data(), nullptr, grad_input, {});
    return true;
  }
  Conv2dGeometry t = g;
  t.in_h = g.in_h + g.dil_h * (g.kernel_h - 1);
  t.in_w = g.in_w + g.dil_w * (g.kernel_w - 1);
  t.out_h = g.in_h;
  t.out_w = g.in_w;
  t.stride_h = t.stride_w = 1;
  t.pad_h = t.pad_w = 0;
  const PhaseLayout l = phase_layout(t, false);  // stride 1: whole rows of t.in_w floats
  forward_planes(t, l, flipped.data(), nullptr, grad_input, {},
                 [&](std::int64_t plane, std::int64_t r0, std::int64_t rows, float* dst) {
                   const float* dy = grad_out + plane * P;
                   for (std::int64_t r = 0; r < rows; ++r) {
                     float* line = dst + r * l.row;
                     std::fill(line, line + l.row, 0.0f);
                     const std::int64_t y = r0 + r - top;
                     if (y < 0 || y % g.stride_h != 0 || y / g.stride_h >= g.out_h) continue;
                     const float* src = dy + y / g.stride_h * g.out_w;
                     for (std::int64_t ox = 0; ox < g.out_w; ++ox) line[left + ox * g.stride_w] = src[ox];
                   }
                 });
  return true;
}

// 3x3 layers at stride 1 or 2 whose input rows fit two vectors and output rows one (7x7, 14x14
// and stride-2 28x28 maps under AVX-512) run from registers: their copy and the kernel's
// unaligned loads of it were most of their time (0.25 ms for N8 C512 7x7, ORT 0.13).
bool rows_fit_registers(const Conv2dGeometry& g) {
  const std::int64_t width = FLEXCONV_PICK_ISA(depthwise_vector_width)();
  return g.kernel_h == 3 && g.kernel_w == 3 && g.dil_h == 1 && g.dil_w == 1 && g.stride_h == g.stride_w &&
         (g.stride_w == 1 || g.stride_w == 2) && g.in_w <= 2 * width && g.out_w <= width;
}

void forward_from_registers(const Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                            float* out, const ConvEpilogue& ep) {
  const auto planes_kernel = FLEXCONV_PICK_ISA(depthwise_planes_in_registers);
  const std::int64_t P = g.out_h * g.out_w, mult = g.out_channels / g.in_channels;
  const PlaneTasks split = plane_tasks(g.batch * g.in_channels, g.out_h, mult * P, num_threads(), kMinRowsPerTask);
  parallel_tasks(split.tasks, [&](std::int64_t task, int) {
    const PlaneTasks::Range r = split.range(task);
    planes_kernel(g, input, weight, bias, ep, out, r.unit0, r.unit1, r.oy0, r.oy1);
  });
}

}  // namespace

void depthwise_forward(const Conv2dGeometry& g, const float* input, const float* weight, const float* bias, float* out,
                       const ConvEpilogue& ep) {
  if (rows_fit_registers(g)) {
    forward_from_registers(g, input, weight, bias, out, ep);
    return;
  }
  const PhaseLayout l = phase_layout(g, true);
  const std::int64_t HW = g.in_h * g.in_w;
  forward_planes(g, l, weight, bias, out, ep, [&](std::int64_t plane, std::int64_t r0, std::int64_t rows, float* dst) {
    copy_phased(g, input + plane * HW, r0, rows, l, dst);
  });
}

void depthwise_backward_input(const Conv2dGeometry& g, const float* grad_out, const float* weight, float* grad_input) {
  if (g.out_channels == g.in_channels && g.stride_w == 2 && rows_fit_registers(g)) {
    const auto kernel = FLEXCONV_PICK_ISA(depthwise_input_grad_in_registers);
    const PlaneTasks split = plane_tasks(g.batch * g.in_channels, g.in_h, g.in_h * g.in_w, num_threads(), g.in_h);
    parallel_tasks(split.tasks, [&](std::int64_t task, int) {
      const PlaneTasks::Range r = split.range(task);
      kernel(g, grad_out, weight, grad_input, r.unit0, r.unit1);
    });
    return;
  }
  if (backward_input_by_spreading(g, grad_out, weight, grad_input)) return;
  const auto backward = FLEXCONV_PICK_ISA(depthwise_backward_input_planes);
  parallel_for(g.batch * g.in_channels,
               [&](std::int64_t t0, std::int64_t t1) { backward(g, grad_out, weight, grad_input, t0, t1); });
}

void depthwise_backward_weight(const Conv2dGeometry& g, const float* grad_out, const float* input, float* grad_weight) {
  if (rows_fit_registers(g)) {
    const auto kernel = FLEXCONV_PICK_ISA(depthwise_weight_grad_in_registers);
    parallel_tasks(g.out_channels, [&](std::int64_t o, int) { kernel(g, grad_out, input, o, grad_weight); });
    return;
  }
  const auto tap_sums = FLEXCONV_PICK_ISA(depthwise_tap_sums);
  const std::int64_t C = g.in_channels, O = g.out_channels, mult = O / C, KK = g.kernel_h * g.kernel_w;
  const std::int64_t P = g.out_h * g.out_w, HW = g.in_h * g.in_w;
  const PhaseLayout l = phase_layout(g, false);
  const std::vector<std::int64_t> offsets = tap_offsets(g, l);
  const std::int64_t rows = rows_read(g, 0, g.out_h);
  // A thread per output channel, its images in order (sums in double): the same bits at any
  // thread count.
  parallel_tasks(O, [&](std::int64_t o, int) {
    std::vector<double> sums(static_cast<size_t>(KK), 0.0);
    AlignedBuffer<float> overflow;
    float* copy = t_plane.get(static_cast<size_t>(rows * l.row + kReadSlack), overflow);
    std::fill(copy + rows * l.row, copy + rows * l.row + kReadSlack, 0.0f);
    const PhasedPlane in{copy, 0, l.row, l.phase, l.pick};
    for (std::int64_t b = 0; b < g.batch; ++b) {
      copy_phased(g, input + (b * C + o / mult) * HW, 0, rows, l, copy);
      for (std::int64_t t0 = 0; t0 < KK; t0 += kTapsPerPass) {
        const int count = static_cast<int>(std::min<std::int64_t>(kTapsPerPass, KK - t0));
        tap_sums(g, in, offsets.data() + t0, count, grad_out + (b * O + o) * P, sums.data() + t0);
      }
    }
    for (std::int64_t k = 0; k < KK; ++k) grad_weight[o * KK + k] = static_cast<float>(sums[static_cast<size_t>(k)]);
  });
}

}  // namespace cpu
}  // namespace flexconv
