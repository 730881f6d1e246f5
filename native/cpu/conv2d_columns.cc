// Packers of conv2d's virtual matrices (see conv2d_columns.h). Every packer first splits its
// column (or row) range into runs that stay inside one output row of one image, then copies
// run by run: one bounds computation per run instead of one per element.
#include "cpu/conv2d_columns.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

// A run of consecutive output pixels inside one output row of one image.
struct Run {
  std::int64_t image;  // relative to the first image of the operand
  std::int64_t oy, ox, len;
  std::int64_t offset;  // position of the run's first pixel within the packed range
};

// Splits the pixels [n0, n0 + count) of the (images x P) pixel sequence into runs.
void split_runs(const Conv2dGeometry& g, std::int64_t n0, std::int64_t count, std::vector<Run>* runs) {
  const std::int64_t P = g.out_h * g.out_w;
  runs->clear();
  std::int64_t n = n0, t = 0;
  while (t < count) {
    const std::int64_t b = n / P, pix = n - b * P;
    const std::int64_t oy = pix / g.out_w, ox = pix - oy * g.out_w;
    const std::int64_t len = std::min(g.out_w - ox, count - t);
    runs->push_back({b, oy, ox, len, t});
    n += len;
    t += len;
  }
}

// Copies the input row values a run of output pixels reads at horizontal tap offset dx,
// to out[0], out[step], ... (zero where the tap falls into the padding).
inline void gather_row(const Conv2dGeometry& g, const float* row, std::int64_t ox, std::int64_t len, std::int64_t dx,
                       float* out, std::int64_t step) {
  const std::int64_t x0 = ox * g.stride_w - g.pad_w + dx;
  std::int64_t lo, hi;
  valid_range(x0, g.stride_w, g.in_w, len, &lo, &hi);
  if (step == 1) {
    std::fill(out, out + lo, 0.0f);
    if (g.stride_w == 1) {
      std::memcpy(out + lo, row + x0 + lo, sizeof(float) * static_cast<size_t>(hi - lo));
    } else {
      const float* src = row + x0;
      for (std::int64_t t = lo; t < hi; ++t) out[t] = src[t * g.stride_w];
    }
    std::fill(out + hi, out + len, 0.0f);
  } else {
    for (std::int64_t t = 0; t < lo; ++t) out[t * step] = 0.0f;
    const float* src = row + x0;
    for (std::int64_t t = lo; t < hi; ++t) out[t * step] = src[t * g.stride_w];
    for (std::int64_t t = hi; t < len; ++t) out[t * step] = 0.0f;
  }
}

inline void zero_strided(float* out, std::int64_t len, std::int64_t step) {
  if (step == 1) {
    std::fill(out, out + len, 0.0f);
  } else {
    for (std::int64_t t = 0; t < len; ++t) out[t * step] = 0.0f;
  }
}

}  // namespace

void ColumnSource::pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const {
  const Conv2dGeometry& g = g_;
  const std::int64_t KK = g.kernel_h * g.kernel_w, HW = g.in_h * g.in_w;
  const std::int64_t Cg = g.in_channels / g.groups;
  const float* base = input_ + (image0_ * g.in_channels + group_ * Cg) * HW;
  const std::int64_t image_stride = g.in_channels * HW;
  std::vector<Run> runs;
  for (std::int64_t p0 = 0; p0 < nc; p0 += nr) {
    const std::int64_t cols = std::min<std::int64_t>(nr, nc - p0);
    split_runs(g, n0 + p0, cols, &runs);
    for (std::int64_t k = 0; k < kc; ++k) {
      const std::int64_t kk = k0 + k, c = kk / KK, r = kk - c * KK;
      const std::int64_t i = r / g.kernel_w, j = r - i * g.kernel_w;
      const std::int64_t dy = i * g.dil_h - g.pad_h, dx = j * g.dil_w;
      float* out = dst + k * nr;
      for (const Run& run : runs) {
        const std::int64_t iy = run.oy * g.stride_h + dy;
        float* o = out + run.offset;
        if (iy < 0 || iy >= g.in_h) {
          std::fill(o, o + run.len, 0.0f);
        } else {
          const float* row = base + run.image * image_stride + c * HW + iy * g.in_w;
          gather_row(g, row, run.ox, run.len, dx, o, 1);
        }
      }
      std::fill(out + cols, out + nr, 0.0f);
    }
    dst += kc * nr;
  }
}

void TransposedColumnSource::pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr,
                                  float* dst) const {
  const Conv2dGeometry& g = g_;
  const std::int64_t KK = g.kernel_h * g.kernel_w, HW = g.in_h * g.in_w;
  const std::int64_t Cg = g.in_channels / g.groups;
  const float* base = input_ + group_ * Cg * HW;
  const std::int64_t image_stride = g.in_channels * HW;
  std::vector<Run> runs;
  split_runs(g, k0, kc, &runs);
  for (std::int64_t p0 = 0; p0 < nc; p0 += nr) {
    const std::int64_t cols = std::min<std::int64_t>(nr, nc - p0);
    for (std::int64_t t = 0; t < cols; ++t) {
      const std::int64_t w = n0 + p0 + t, c = w / KK, r = w - c * KK;
      const std::int64_t i = r / g.kernel_w, j = r - i * g.kernel_w;
      const std::int64_t dy = i * g.dil_h - g.pad_h, dx = j * g.dil_w;
      for (const Run& run : runs) {
        const std::int64_t iy = run.oy * g.stride_h + dy;
        float* o = dst + run.offset * nr + t;
        if (iy < 0 || iy >= g.in_h) {
          zero_strided(o, run.len, nr);
        } else {
          const float* row = base + run.image * image_stride + c * HW + iy * g.in_w;
          gather_row(g, row, run.ox, run.len, dx, o, nr);
        }
      }
    }
    if (cols < nr) {
      for (std::int64_t k = 0; k < kc; ++k) std::fill(dst + k * nr + cols, dst + (k + 1) * nr, 0.0f);
    }
    dst += kc * nr;
  }
}

void RowsAcrossImagesSource::pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr,
                                  float* dst) const {
  struct Span {
    const float* src;
    std::int64_t len, offset;
  };
  std::vector<Span> spans;
  for (std::int64_t p0 = 0; p0 < nc; p0 += nr) {
    const std::int64_t cols = std::min<std::int64_t>(nr, nc - p0);
    spans.clear();
    for (std::int64_t t = 0, n = n0 + p0; t < cols;) {
      const std::int64_t b = n / plane_, p = n - b * plane_;
      const std::int64_t len = std::min(plane_ - p, cols - t);
      spans.push_back({data_ + (image0_ + b) * image_stride_ + (row0_ + k0) * plane_ + p, len, t});
      n += len;
      t += len;
    }
    for (std::int64_t k = 0; k < kc; ++k) {
      float* out = dst + k * nr;
      for (const Span& s : spans) {
        std::memcpy(out + s.offset, s.src + k * plane_, sizeof(float) * static_cast<size_t>(s.len));
      }
      std::fill(out + cols, out + nr, 0.0f);
    }
    dst += kc * nr;
  }
}

void RowsAcrossImagesA::pack(std::int64_t m0, std::int64_t mc, std::int64_t k0, std::int64_t kc, int mr,
                             float* dst) const {
  struct Span {
    std::int64_t image, p, len, offset;
  };
  std::vector<Span> spans;
  for (std::int64_t t = 0, n = k0; t < kc;) {
    const std::int64_t b = n / plane_, p = n - b * plane_;
    const std::int64_t len = std::min(plane_ - p, kc - t);
    spans.push_back({b, p, len, t});
    n += len;
    t += len;
  }
  for (std::int64_t p0 = 0; p0 < mc; p0 += mr) {
    const std::int64_t rows = std::min<std::int64_t>(mr, mc - p0);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t row = row0_ + m0 + p0 + r;
      for (const Span& s : spans) {
        const float* src = data_ + s.image * image_stride_ + row * plane_ + s.p;
        float* o = dst + s.offset * mr + r;
        for (std::int64_t q = 0; q < s.len; ++q) o[q * mr] = src[q];
      }
    }
    if (rows < mr) {
      for (std::int64_t k = 0; k < kc; ++k) std::fill(dst + k * mr + rows, dst + (k + 1) * mr, 0.0f);
    }
    dst += kc * mr;
  }
}

void col2im_plane(const Conv2dGeometry& g, const float* tile, std::int64_t ld, float* plane) {
  std::fill(plane, plane + g.in_h * g.in_w, 0.0f);
  for (std::int64_t i = 0; i < g.kernel_h; ++i) {
    for (std::int64_t j = 0; j < g.kernel_w; ++j) {
      const float* src = tile + (i * g.kernel_w + j) * ld;
      const std::int64_t x0 = j * g.dil_w - g.pad_w;
      std::int64_t lo, hi;
      valid_range(x0, g.stride_w, g.in_w, g.out_w, &lo, &hi);
      for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
        const std::int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
        if (iy < 0 || iy >= g.in_h) continue;
        float* drow = plane + iy * g.in_w;
        const float* s = src + oy * g.out_w;
        if (g.stride_w == 1) {
          for (std::int64_t ox = lo; ox < hi; ++ox) drow[x0 + ox] += s[ox];
        } else {
          for (std::int64_t ox = lo; ox < hi; ++ox) drow[x0 + ox * g.stride_w] += s[ox];
        }
      }
    }
  }
}

}  // namespace cpu
}  // namespace flexconv
