// What the Winograd transforms of F(2x2, 3x3) (conv2d_winograd_isa.cc) and F(4x4, 3x3)
// (conv2d_winograd4_isa.cc) share: the weights' transform loops, the output pixels' epilogue,
// and how the AVX-512 code walks a chunk's tiles (16 at a time, one per vector lane, whatever runs
// they come from). Included by those per-ISA files only; everything here has internal linkage
// (each instruction set's copy is its own).
#pragma once
#include <algorithm>
#include <cstdint>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/conv2d_winograd_kernels.h"

namespace flexconv {
namespace cpu {
namespace {

#if defined(__AVX512F__)
// Lanes [lo, hi) of a 16-lane mask, clamped to [0, 16].
[[maybe_unused]] __mmask16 lane_range(std::int64_t lo, std::int64_t hi) {
  lo = std::max<std::int64_t>(lo, 0);
  hi = std::min<std::int64_t>(hi, 16);
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}
#endif

// One output pixel: the transform's value (bias included) plus the residual, ReLU as torch.relu
// (NaN stays NaN).
inline float output_pixel(float value, const float* residual, std::int64_t at, bool relu) {
  const float out = residual ? value + residual[at] : value;
  return relu && out < 0.0f ? 0.0f : out;
}

// Where the 3x3 kernels a weight transform reads lie: kernel p's first tap at weight + first(p),
// the others `step` floats apart (in the order the transform takes them).
struct WeightKernels {
  const float* weight;
  // 0: kernel p is the weight's p-th (9 p, step 1). Otherwise the weight's output channels:
  // kernel p = c * flipped_from + o is kernel (o, c) turned by 180 degrees (read back to front),
  // the kernel the stride-1 input gradient convolves with (conv2d_flip_weight's layout).
  std::int64_t flipped_from;
  std::int64_t in_channels;  // the weight's (flipped kernels only)
  std::int64_t first(std::int64_t p) const {
    if (flipped_from == 0) return 9 * p;
    const std::int64_t c = p / flipped_from, o = p - c * flipped_from;
    return (o * in_channels + c) * 9 + 8;
  }
  int step() const { return flipped_from == 0 ? 1 : -1; }
};

// U of the 3x3 kernels [p0, p1) one kernel at a time, transform(g, t) writing its Points values,
// into u[xi * stride + p]; false when a kernel held inf or NaN.
template <int Points, class Transform>
bool weight_tiles_scalar(const WeightKernels& k, std::int64_t p0, std::int64_t p1, std::int64_t stride, float* u,
                         Transform transform) {
  float sum = 0.0f;
  const int step = k.step();
  for (std::int64_t p = p0; p < p1; ++p) {
    const float* first = k.weight + k.first(p);
    float g[9];
    for (int i = 0; i < 9; ++i) {
      g[i] = first[i * step];
      sum += g[i] * 0.0f;  // NaN iff some g[i] is inf or NaN
    }
    float t[Points];
    transform(g, t);
    for (int xi = 0; xi < Points; ++xi) u[xi * stride + p] = t[xi];
  }
  return sum == 0.0f;
}

// The plain tile loops of both tilings (the copies without vector transforms, and the AVX-512
// input transform's fallback for panels not a multiple of 16 wide), tile by tile over a chunk's
// runs. Size: the tile's output block (size x size); its input patch is (size + 2) x (size + 2),
// row-major.

// V of every tile: transform(patch, v) writing Points values (patch read as zero outside the
// plane), stored where `layout` says; false when a value was not finite (see
// winograd_input_tiles).
template <int Size, int Points, class Transform>
bool input_tiles_plain(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* channel,
                       float* dst, const WinogradVLayout& layout, Transform transform) {
  constexpr int kPatch = Size + 2;
  std::int64_t tile = 0;
  float sum = 0.0f;
  for (std::int64_t k = 0; k < nruns; ++k) {
    const WinogradRun& run = runs[k];
    const float* plane = channel + run.image * p.in_image_stride;
    for (std::int64_t i = 0; i < run.n; ++i, ++tile) {
      const std::int64_t iy0 = Size * run.ty - p.pad_h, ix0 = Size * (run.tx + i) - p.pad_w;
      float d[kPatch * kPatch], v[Points];
      for (int r = 0; r < kPatch; ++r) {
        for (int c = 0; c < kPatch; ++c) {
          const std::int64_t y = iy0 + r, x = ix0 + c;
          d[r * kPatch + c] = y >= 0 && y < p.in_h && x >= 0 && x < p.in_w ? plane[y * p.in_w + x] : 0.0f;
        }
      }
      transform(d, v);
      float* at = dst + tile / layout.panel_width * layout.panel_stride + tile % layout.panel_width;
      for (int xi = 0; xi < Points; ++xi) {
        at[xi * layout.xi_stride] = v[xi];
        sum += v[xi];
      }
    }
  }
  return sum - sum == 0.0f;  // false for inf and NaN
}

// The outputs of every tile: transform(m, bias, y) from its Points values m[xi * xi_stride +
// tile] to the Size x Size block y (row-major, bias included), plus the residual, ReLU if asked,
// into the pixels inside the plane.
template <int Size, int Points, class Transform>
void output_tiles_plain(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* m,
                        std::int64_t xi_stride, float bias, const float* residual, bool relu, float* channel,
                        Transform transform) {
  std::int64_t tile = 0;
  for (std::int64_t k = 0; k < nruns; ++k) {
    const WinogradRun& run = runs[k];
    const std::int64_t offset = run.image * p.out_image_stride;
    for (std::int64_t i = 0; i < run.n; ++i, ++tile) {
      float v[Points], y[Size * Size];
      for (int xi = 0; xi < Points; ++xi) v[xi] = m[xi * xi_stride + tile];
      transform(v, bias, y);
      for (int r = 0; r < Size; ++r) {
        for (int c = 0; c < Size; ++c) {
          const std::int64_t oy = Size * run.ty + r, ox = Size * (run.tx + i) + c;
          if (oy >= p.out_h || ox >= p.out_w) continue;
          const std::int64_t at = offset + oy * p.out_w + ox;
          channel[at] = output_pixel(y[r * Size + c], residual, at, relu);
        }
      }
    }
  }
}

// Z of every tile: transform(dy, z) from its Size x Size block of the output gradient (zero
// outside the plane) to Points values at dst[xi * xi_stride + tile]; false when a value was not
// finite.
template <int Size, int Points, class Transform>
bool grad_output_tiles_plain(const WinogradRun* runs, std::int64_t nruns, const WinogradPlanes& p, const float* channel,
                             float* dst, std::int64_t xi_stride, Transform transform) {
  std::int64_t tile = 0;
  float sum = 0.0f;
  for (std::int64_t k = 0; k < nruns; ++k) {
    const WinogradRun& run = runs[k];
    const float* plane = channel + run.image * p.out_image_stride;
    for (std::int64_t i = 0; i < run.n; ++i, ++tile) {
      float dy[Size * Size], z[Points];
      for (int r = 0; r < Size; ++r) {
        for (int c = 0; c < Size; ++c) {
          const std::int64_t y = Size * run.ty + r, x = Size * (run.tx + i) + c;
          dy[r * Size + c] = y < p.out_h && x < p.out_w ? plane[y * p.out_w + x] : 0.0f;
        }
      }
      transform(dy, z);
      for (int xi = 0; xi < Points; ++xi) {
        dst[xi * xi_stride + tile] = z[xi];
        sum += z[xi];
      }
    }
  }
  return sum - sum == 0.0f;  // false for inf and NaN
}

// dW = G^T u G of the channel pairs [p0, p1) one pair at a time, transform(t, w) taking its
// Points values of u + second (the two halves' dU, added first) to the 9 taps of weight + 9 p.
template <int Points, class Transform>
void inverse_weight_tiles_scalar(const float* u, const float* second, std::int64_t p0, std::int64_t p1,
                                 std::int64_t pairs, float* weight, Transform transform) {
  for (std::int64_t p = p0; p < p1; ++p) {
    float t[Points], w[9];
    for (int xi = 0; xi < Points; ++xi) t[xi] = u[xi * pairs + p] + second[xi * pairs + p];
    transform(t, w);
    for (int i = 0; i < 9; ++i) weight[p * 9 + i] = w[i];
  }
}

#if defined(__AVX512F__)
// The same 16 pairs per step: the Points matrices read as vectors (16 strided scalar loads per
// pair were 3% of a 32-channel conv's training step: the matrices 4 KB apart share one L1 set),
// the 9 taps written back kernel by kernel; the tail as above.
template <int Points, class Transform>
void inverse_weight_tiles_avx512(const float* u, const float* second, std::int64_t p0, std::int64_t p1,
                                 std::int64_t pairs, float* weight, Transform transform) {
  std::int64_t p = p0;
  for (; p + 16 <= p1; p += 16) {
    __m512 t[Points], w[9];
    for (int xi = 0; xi < Points; ++xi) {
      t[xi] = _mm512_add_ps(_mm512_loadu_ps(u + xi * pairs + p), _mm512_loadu_ps(second + xi * pairs + p));
    }
    transform(t, w);
    // The 16 kernels' taps are 144 consecutive floats: stored through a 9 x 16 block turned in
    // the cache (scatters cost this CPU more than the scalar copies).
    alignas(64) float taps[9][16];
    for (int i = 0; i < 9; ++i) _mm512_store_ps(taps[i], w[i]);
    float* out = weight + p * 9;
    for (int l = 0; l < 16; ++l)
      for (int i = 0; i < 9; ++i) out[l * 9 + i] = taps[i][l];
  }
  inverse_weight_tiles_scalar<Points>(u, second, p, p1, pairs, weight, transform);
}

// Kernels [p, p + 16), one per lane: their 9 taps turned into 9 vectors of 16 through a block in
// the cache (as inverse_weight_tiles_avx512 stores them: nine 16-lane gathers per step cost this
// CPU more than the 144 scalar copies), the Points transformed values stored as contiguous runs
// of U; `sum` gathers the taps' finiteness.
template <int Points, class Transform>
inline void weight_tiles_step(const WeightKernels& k, std::int64_t p, std::int64_t stride, float* u,
                              Transform transform, __m512& sum) {
  alignas(64) float taps[9][16];
  if (k.flipped_from == 0) {
    const float* in = k.weight + 9 * p;  // the 16 kernels' 144 consecutive floats
    for (int l = 0; l < 16; ++l)
      for (int i = 0; i < 9; ++i) taps[i][l] = in[l * 9 + i];
  } else {
    // Kernels (o + l, c) of one input channel c, 9 C floats apart, read back to front (one
    // division per step: one per lane was a quarter of the transform's time).
    const std::int64_t c = p / k.flipped_from, o = p - c * k.flipped_from;
    if (o + 16 <= k.flipped_from) {
      const float* last = k.weight + k.first(p);
      const std::int64_t apart = 9 * k.in_channels;
      for (int l = 0; l < 16; ++l)
        for (int i = 0; i < 9; ++i) taps[i][l] = last[l * apart - i];
    } else {
      for (int l = 0; l < 16; ++l) {
        const float* last = k.weight + k.first(p + l);
        for (int i = 0; i < 9; ++i) taps[i][l] = last[-i];
      }
    }
  }
  __m512 g[9], t[Points];
  for (int i = 0; i < 9; ++i) {
    g[i] = _mm512_load_ps(taps[i]);
    sum = _mm512_fmadd_ps(g[i], _mm512_setzero_ps(), sum);  // NaN iff some tap is inf or NaN
  }
  transform(g, t);
  for (int xi = 0; xi < Points; ++xi) _mm512_storeu_ps(u + xi * stride + p, t[xi]);
}

// U of the kernels [p0, p1): 16 per step (weight_tiles_step), the tail as above. Flipped kernels
// (p = c O + o) read 16 output channels' kernels per step, 9 C floats apart: in p order a step
// touches 16 lines on 16 pages that the next input channel's step only revisits O / 16 steps
// later (the misses were 28% of the transform's time). Whole rows of input channels therefore
// go 16 output channels at a time, input channel by input channel, so each lane streams along
// its output channel's kernels. Every kernel is transformed by the same arithmetic in any order.
template <int Points, class Transform>
bool weight_tiles_avx512(const WeightKernels& k, std::int64_t p0, std::int64_t p1, std::int64_t stride, float* u,
                         Transform transform) {
  __m512 sum = _mm512_setzero_ps();
  bool tails_finite = true;
  // Steps of 16 over [a, b), then the kernels left one at a time.
  auto run = [&](std::int64_t a, std::int64_t b) {
    for (; a + 16 <= b; a += 16) weight_tiles_step<Points>(k, a, stride, u, transform, sum);
    tails_finite &= weight_tiles_scalar<Points>(k, a, b, stride, u, transform);
  };
  const std::int64_t O = k.flipped_from;
  if (O == 0 || O % 16 != 0) {
    run(p0, p1);
  } else {
    // [p0, head): the end of a partial row; [head, body) whole rows; [body, p1) a partial row.
    const std::int64_t row_end = (p0 + O - 1) / O * O;
    const std::int64_t head = p1 < row_end ? p1 : row_end;
    const std::int64_t body = p1 / O * O > head ? p1 / O * O : head;
    run(p0, head);
    for (std::int64_t o = 0; o < O; o += 16) {
      for (std::int64_t p = head + o; p < body; p += O) weight_tiles_step<Points>(k, p, stride, u, transform, sum);
    }
    run(body, p1);
  }
  return tails_finite && _mm512_cmp_ps_mask(sum, _mm512_setzero_ps(), _CMP_EQ_OQ) == 0xFFFF;
}

// Whether every lane of a running sum of transformed values is finite: sum - sum is 0 for
// finite lanes and NaN for inf or NaN ones (a value that was not finite, or an overflow).
inline bool all_lanes_finite(__m512 sum) {
  return _mm512_cmp_ps_mask(_mm512_sub_ps(sum, sum), _mm512_setzero_ps(), _CMP_EQ_OQ) == 0xFFFF;
}

// Prefetches rows [y0, y0 + rows) (those inside the plane), columns [x0, x1), of the plane after
// `plane` (h x w): the channel a transform reads next. A chunk's tiles span a few rows of several
// images' planes, no stream the hardware prefetcher follows; the next channel's same rows are
// read once this one is done.
inline void prefetch_next_plane_rows(const float* plane, std::int64_t h, std::int64_t w, std::int64_t y0, int rows,
                                     std::int64_t x0, std::int64_t x1) {
  const float* next = plane + h * w;  // (past the tensor for its last plane: prefetches never fault)
  x0 = x0 < 0 ? 0 : x0;
  for (std::int64_t y = y0 < 0 ? 0 : y0; y < y0 + rows && y < h; ++y) {
    for (std::int64_t x = x0; x < x1; x += 16)
      _mm_prefetch(reinterpret_cast<const char*>(next + y * w + x), _MM_HINT_T0);
  }
}

// The columns `cols` of 16 output pixels from `at` on: value plus the residual (may be null),
// ReLU as torch.relu (only values below zero become zero; NaN stays NaN), stored masked.
// The same pixels of the next channel plane (`next_plane` floats on: the output channel the
// caller transforms next) are prefetched in the residual and the output: a chunk's tiles touch
// a few rows of each plane, a pattern the hardware prefetcher does not follow, and each line
// met on demand (from L3 or memory) made a batch-32 conv up to 1.6x slower with a residual, and
// 1.15-1.35x slower without one.
inline void store_output_pixels(__m512 value, __mmask16 cols, const float* residual, std::int64_t at, bool relu,
                                float* channel, std::int64_t next_plane) {
  if (residual) {
    // (Past the tensor's end for the last plane: prefetches never fault.)
    _mm_prefetch(reinterpret_cast<const char*>(residual + at) + 4 * next_plane, _MM_HINT_T0);
    value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(cols, residual + at));
  }
  if (relu) {
    const __m512 zero = _mm512_setzero_ps();
    value = _mm512_mask_mov_ps(value, _mm512_cmp_ps_mask(value, zero, _CMP_LT_OQ), zero);
  }
  _mm_prefetch(reinterpret_cast<const char*>(channel + at) + 4 * next_plane, _MM_HINT_T0);
  _mm512_mask_storeu_ps(channel + at, cols, value);
}
#endif

// Walks a chunk's runs 16 tiles at a time: piece(lane0, run, first tile of the run, count) for
// each piece of a run inside the current group of 16, then done(lanes) once the group is
// complete.
template <class Piece, class Done>
void for_each_group(const WinogradRun* runs, std::int64_t nruns, Piece piece, Done done) {
  std::int64_t k = 0, used = 0;
  while (k < nruns) {
    int lanes = 0;
    while (lanes < 16 && k < nruns) {
      const WinogradRun& run = runs[k];
      const int take = static_cast<int>(std::min<std::int64_t>(16 - lanes, run.n - used));
      piece(lanes, run, run.tx + used, take);
      lanes += take;
      used += take;
      if (used == run.n) {
        ++k;
        used = 0;
      }
    }
    done(lanes);
  }
}

}  // namespace
}  // namespace cpu
}  // namespace flexconv
