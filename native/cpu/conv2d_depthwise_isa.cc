// The depthwise kernels' bodies, compiled once per instruction set (core/isa.h);
// conv2d_depthwise.cc picks the copy for this CPU. Everything the bodies call is defined inside
// the namespace or out of line, so no inline function is compiled twice with different
// instruction sets.
#include <cstdint>

#include "cpu/conv2d_depthwise.h"

FLEXCONV_ISA_BEGIN
namespace {

// The sizes every depthwise body works with: channels, output channels and the channel
// multiplier, input and output plane sizes, kernel taps, horizontal stride.
struct Dims {
  std::int64_t C, O, mult, HW, P, KK, sw;
};
Dims dims_of(const math::Conv2dGeometry& g) {
  return {g.in_channels,           g.out_channels, g.out_channels / g.in_channels, g.in_h * g.in_w, g.out_h * g.out_w,
          g.kernel_h * g.kernel_w, g.stride_w};
}

void fill_plane(float* p, std::int64_t n, float v) {
  for (std::int64_t i = 0; i < n; ++i) p[i] = v;
}

// One kernel tap of one output row: output row oy reads input row iy (inside the image) with
// tap (i, j) = tap; output columns [lo, hi) read input columns x0 + ox * stride_w, all inside.
struct RowTap {
  std::int64_t oy, iy, tap, x0, lo, hi;
};

// fn(row_tap) for every output row and every tap whose input row lies inside the image, in
// (oy, i, j) order.
template <class Fn>
void for_each_row_tap(const math::Conv2dGeometry& g, Fn fn) {
  for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
    for (std::int64_t i = 0; i < g.kernel_h; ++i) {
      const std::int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
      if (iy < 0 || iy >= g.in_h) continue;
      for (std::int64_t j = 0; j < g.kernel_w; ++j) {
        const std::int64_t x0 = j * g.dil_w - g.pad_w;
        std::int64_t lo, hi;
        math::conv_valid_range(x0, g.stride_w, g.in_w, g.out_w, &lo, &hi);
        fn(RowTap{oy, iy, i * g.kernel_w + j, x0, lo, hi});
      }
    }
  }
}

}  // namespace

using math::Conv2dGeometry;

// Output planes t in [t0, t1) (t = image * out_channels + o).
void depthwise_forward_planes(const Conv2dGeometry& g, const float* input, const float* weight, const float* bias,
                              float* out, std::int64_t t0, std::int64_t t1) {
  const auto [C, O, mult, HW, P, KK, sw] = dims_of(g);
  {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t b = t / O, o = t - b * O, c = o / mult;
      const float* in = input + (b * C + c) * HW;
      const float* w = weight + o * KK;
      float* dst = out + t * P;
      fill_plane(dst, P, bias ? bias[o] : 0.0f);
      for_each_row_tap(g, [&](const RowTap& r) {
        float* orow = dst + r.oy * g.out_w;
        const float* irow = in + r.iy * g.in_w;
        const float wv = w[r.tap];
        if (sw == 1) {
          for (std::int64_t ox = r.lo; ox < r.hi; ++ox) orow[ox] += wv * irow[r.x0 + ox];
        } else {
          for (std::int64_t ox = r.lo; ox < r.hi; ++ox) orow[ox] += wv * irow[r.x0 + ox * sw];
        }
      });
    }
  }
}

// Input-gradient planes t in [t0, t1) (t = image * in_channels + c).
void depthwise_backward_input_planes(const Conv2dGeometry& g, const float* grad_out, const float* weight,
                                     float* grad_input, std::int64_t t0, std::int64_t t1) {
  const auto [C, O, mult, HW, P, KK, sw] = dims_of(g);
  {
    for (std::int64_t t = t0; t < t1; ++t) {
      const std::int64_t b = t / C, c = t - b * C;
      float* gin = grad_input + t * HW;
      fill_plane(gin, HW, 0.0f);
      for (std::int64_t m = 0; m < mult; ++m) {
        const std::int64_t o = c * mult + m;
        const float* go = grad_out + (b * O + o) * P;
        const float* w = weight + o * KK;
        for_each_row_tap(g, [&](const RowTap& r) {
          const float* gorow = go + r.oy * g.out_w;
          float* irow = gin + r.iy * g.in_w;
          const float wv = w[r.tap];
          if (sw == 1) {
            for (std::int64_t ox = r.lo; ox < r.hi; ++ox) irow[r.x0 + ox] += wv * gorow[ox];
          } else {
            for (std::int64_t ox = r.lo; ox < r.hi; ++ox) irow[r.x0 + ox * sw] += wv * gorow[ox];
          }
        });
      }
    }
  }
}

// Weight-gradient rows of output channels [o0, o1).
void depthwise_backward_weight_channels(const Conv2dGeometry& g, const float* grad_out, const float* input,
                                        float* grad_weight, std::int64_t o0, std::int64_t o1) {
  const auto [C, O, mult, HW, P, KK, sw] = dims_of(g);
  {
    for (std::int64_t o = o0; o < o1; ++o) {
      const std::int64_t c = o / mult;
      for (std::int64_t i = 0; i < g.kernel_h; ++i) {
        for (std::int64_t j = 0; j < g.kernel_w; ++j) {
          const std::int64_t x0 = j * g.dil_w - g.pad_w;
          std::int64_t lo, hi;
          math::conv_valid_range(x0, sw, g.in_w, g.out_w, &lo, &hi);
          double total = 0.0;
          for (std::int64_t b = 0; b < g.batch; ++b) {
            const float* go = grad_out + (b * O + o) * P;
            const float* in = input + (b * C + c) * HW;
            // Eight partial sums in a fixed order: vectorisable and deterministic.
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
              const std::int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
              if (iy < 0 || iy >= g.in_h) continue;
              const float* gorow = go + oy * g.out_w;
              const float* irow = in + iy * g.in_w;
              std::int64_t ox = lo;
              for (; ox + 8 <= hi; ox += 8) {
                for (int l = 0; l < 8; ++l) acc[l] += gorow[ox + l] * irow[x0 + (ox + l) * sw];
              }
              for (; ox < hi; ++ox) acc[0] += gorow[ox] * irow[x0 + ox * sw];
            }
            float s = 0.0f;
            for (int l = 0; l < 8; ++l) s += acc[l];
            total += s;
          }
          grad_weight[o * KK + i * g.kernel_w + j] = static_cast<float>(total);
        }
      }
    }
  }
}

FLEXCONV_ISA_END
