// The direct thin-layer convolution's kernel (cpu/conv2d_direct.h), compiled once per
// instruction set (core/isa.h); conv2d_direct.cc picks the copy for this CPU.
#include <cstdint>

#include "core/lanes.h"
#include "cpu/conv2d_direct.h"

FLEXCONV_ISA_BEGIN
namespace {

using lanes::F32;
constexpr int kLanes = F32::kWidth;

// A call computes kRows output rows x one vector of output pixels x kBlock output channels, a
// register each: 24 of the 32 AVX-512 registers, 8 of the 16 AVX2 / SSE ones, leaving room for
// the kRows input vectors of a tap and its broadcast weight. Each weight, broadcast once, serves
// kRows multiply-adds: per tap kBlock broadcasts and kRows loads for kRows x kBlock FMAs (one
// row per call took a load per FMA, and ran at 60% of the FMA peak).
constexpr int kBlockWidth = kLanes >= 16 ? 8 : 4;
constexpr int kRows = kLanes >= 16 ? 3 : 2;

// Output pixels [x0, x0 + n) of output rows [oy, oy + R) for the block's kBlock channels (the
// first `count` of them stored). Taps are (i, j) for i < KH, j < KW, compile-time for 3x3 and
// runtime otherwise (KH = KW = 0).
template <int kBlock, int R, int KH, int KW>
void rows_vector(const math::Conv2dGeometry& g, const DirectConvBlock& b, std::int64_t oy, std::int64_t x0, int n) {
  const std::int64_t kh = KH ? KH : g.kernel_h, kw = KW ? KW : g.kernel_w;
  F32 acc[R][kBlock];
  for (int o = 0; o < kBlock; ++o) {
    const F32 start = F32::splat(b.bias && o < b.count ? b.bias[o] : 0.0f);
    for (int q = 0; q < R; ++q) acc[q][o] = start;
  }
  const float* top = b.bordered + (oy - b.first_row) * b.row + x0;
  const float* w = b.weights;
  for (std::int64_t c = 0; c < g.in_channels; ++c, top += b.plane) {
    for (std::int64_t i = 0; i < kh; ++i) {
      const float* line = top + i * g.dil_h * b.row;
      for (std::int64_t j = 0; j < kw; ++j, w += kBlock) {
        F32 x[R];
        for (int q = 0; q < R; ++q) x[q] = F32::loadu(line + q * b.row + j * g.dil_w);
        for (int o = 0; o < kBlock; ++o) {
          const F32 wv = F32::broadcast(w + o);
          for (int q = 0; q < R; ++q) acc[q][o] = lanes::fmadd(wv, x[q], acc[q][o]);
        }
      }
    }
  }
  const std::int64_t P = g.out_h * g.out_w;
  for (int q = 0; q < R; ++q) {
    const std::int64_t at = (oy + q) * g.out_w + x0;
    for (int o = 0; o < b.count; ++o) {
      F32 v = acc[q][o];
      if (b.residual) v = lanes::add(v, F32::load_first(b.residual + o * P + at, n));
      if (b.relu) v = lanes::relu(v);
      if (n == kLanes) {
        v.storeu(b.out + o * P + at);
      } else {
        v.store_first(b.out + o * P + at, n);
      }
    }
  }
}

// Output rows [oy, oy + R) of the block, a vector of pixels at a time.
template <int kBlock, int R, int KH, int KW>
void row_group(const math::Conv2dGeometry& g, const DirectConvBlock& b, std::int64_t oy) {
  for (std::int64_t x0 = 0; x0 < g.out_w; x0 += kLanes) {
    const int n = static_cast<int>(g.out_w - x0 < kLanes ? g.out_w - x0 : kLanes);
    rows_vector<kBlock, R, KH, KW>(g, b, oy, x0, n);
  }
}

template <int kBlock, int KH, int KW>
void rows(const math::Conv2dGeometry& g, const DirectConvBlock& b) {
  std::int64_t oy = b.oy0;
  for (; oy + kRows <= b.oy1; oy += kRows) row_group<kBlock, kRows, KH, KW>(g, b, oy);
  for (; oy < b.oy1; ++oy) row_group<kBlock, 1, KH, KW>(g, b, oy);
}

template <int kBlock>
void rows_for_kernel(const math::Conv2dGeometry& g, const DirectConvBlock& b) {
  if (g.kernel_h == 3 && g.kernel_w == 3) {
    rows<kBlock, 3, 3>(g, b);
  } else {
    rows<kBlock, 0, 0>(g, b);
  }
}

// The weight gradient's output channels per call: kGradBlock x 9 accumulators (18 of the 32
// AVX-512 registers; 9 of the 16 AVX2 / SSE ones), plus the grad_out vectors and one input
// vector. Each input vector loaded serves kGradBlock multiply-adds.
constexpr int kGradBlock = kLanes >= 16 ? 2 : 1;

// The input at columns [0, n) + j of `p` for j = 0, 1, 2. Unaligned loads at p + 1 and p + 2
// split across cache lines and took two load slots each, which bound the kernel; with AVX-512
// (where the caller aligns p for whole vectors) two loads and two lane shifts give all three.
template <bool kWhole>
[[gnu::always_inline]] inline void shifted_three(const float* p, int n, F32 (&x)[3]) {
#if defined(__AVX512F__)
  if (kWhole) {
    const __m512i a = _mm512_castps_si512(_mm512_loadu_ps(p)), b = _mm512_castps_si512(_mm512_loadu_ps(p + 16));
    x[0] = {_mm512_castsi512_ps(a)};
    x[1] = {_mm512_castsi512_ps(_mm512_maskz_alignr_epi32(0xFFFF, b, a, 1))};
    x[2] = {_mm512_castsi512_ps(_mm512_maskz_alignr_epi32(0xFFFF, b, a, 2))};
    return;
  }
#endif
  for (int j = 0; j < 3; ++j) x[j] = lanes::load_whole_or_first<kWhole>(p + j, n);
}

// acc[o][tap] += grad_out[o] x the input shifted by the tap, over output pixels [x0, x0 + n)
// of one output row: `dy` points at that row of grad_out's plane o0, `line` at the bordered
// input row above it (taps (i, j) read line + i * row + j: dilation 1). Inlined into the row
// loop so the accumulators stay in registers across it.
template <int kBlock, bool kWhole>
[[gnu::always_inline]] inline void grad_vector(const float* dy, std::int64_t P, const float* line, std::int64_t row,
                                               int n, F32 (&acc)[kBlock][9]) {
  F32 d[kBlock];
  for (int o = 0; o < kBlock; ++o) d[o] = lanes::load_whole_or_first<kWhole>(dy + o * P, n);
  for (int i = 0; i < 3; ++i) {
    F32 x[3];
    shifted_three<kWhole>(line + i * row, n, x);
    for (int j = 0; j < 3; ++j) {
      for (int o = 0; o < kBlock; ++o) acc[o][i * 3 + j] = lanes::fmadd(d[o], x[j], acc[o][i * 3 + j]);
    }
  }
}

template <int kBlock>
void weight_grad(const math::Conv2dGeometry& g, const DirectConvGradBlock& b) {
  const std::int64_t whole = g.out_w / kLanes * kLanes, P = g.out_h * g.out_w;
  const int tail = static_cast<int>(g.out_w - whole);
  for (std::int64_t c = 0; c < g.in_channels; ++c) {
    const float* plane = b.bordered + c * b.plane;
    F32 acc[kBlock][9];
    for (int o = 0; o < kBlock; ++o) {
      for (int t = 0; t < 9; ++t) acc[o][t] = F32::zero();
    }
    // Column strips outer, rows inner: each loop is one straight-line body (GCC kept the
    // accumulators in memory across a row loop holding both the whole and the tail bodies).
    // The group's images add into the same registers: one reduction across lanes per group.
    for (int image = 0; image < b.images; ++image) {
      const float* dy = b.grad_out + image * b.grad_image;
      const float* in = plane + image * g.in_channels * b.plane;
      for (std::int64_t x0 = 0; x0 < whole; x0 += kLanes) {
        for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
          grad_vector<kBlock, true>(dy + oy * g.out_w + x0, P, in + oy * b.row + x0, b.row, kLanes, acc);
        }
      }
      for (std::int64_t oy = 0; tail && oy < g.out_h; ++oy) {
        grad_vector<kBlock, false>(dy + oy * g.out_w + whole, P, in + oy * b.row + whole, b.row, tail, acc);
      }
    }
    for (int o = 0; o < kBlock; ++o) {
      float* dst = b.grad_weight + (o * g.in_channels + c) * 9;
      for (int t = 0; t < 9; ++t) dst[t] = static_cast<float>(lanes::sum_in_double(acc[o][t]));
    }
  }
}

}  // namespace

int direct_conv_block_width() { return kBlockWidth; }

void direct_conv_rows(const math::Conv2dGeometry& g, const DirectConvBlock& block) {
  // A narrower instance for a short last block (24 outputs: 16 + 8), so it multiplies no padding.
  if (block.block_width == kBlockWidth) {
    rows_for_kernel<kBlockWidth>(g, block);
  } else {
    rows_for_kernel<kBlockWidth / 2>(g, block);
  }
}

int direct_conv_grad_block_width() { return kGradBlock; }

void direct_conv_weight_grad(const math::Conv2dGeometry& g, const DirectConvGradBlock& block) {
  // (A short last block of one channel where the width is 2.)
  if (block.count == kGradBlock) {
    weight_grad<kGradBlock>(g, block);
  } else {
    weight_grad<1>(g, block);
  }
}

FLEXCONV_ISA_END
