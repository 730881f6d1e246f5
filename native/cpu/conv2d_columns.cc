// Packers of conv2d's virtual matrices (see conv2d_columns.h). Every packer first splits its
// column (or row) range into runs that stay inside one output row of one image, then copies
// run by run: one bounds computation per run instead of one per element.
#include "cpu/conv2d_columns.h"

#include "cpu/conv2d_columns_simd.h"
#include "cpu/gemm/pack_kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace flexconv {
namespace cpu {
namespace {

using math::Conv2dGeometry;

using Run = ColumnRun;

// Splits the pixels [n0, n0 + count) of the (images x P) pixel sequence into runs that also
// end at every multiple of `split` (panel boundaries); offset(t) maps a pixel's position t
// within the range to its place in the packed block.
template <typename Offset>
void split_runs(const Conv2dGeometry& g, const float* group_base, std::int64_t image_stride, std::int64_t n0,
                std::int64_t count, std::int64_t split, Offset offset, std::vector<Run>* runs) {
  const std::int64_t P = g.out_h * g.out_w;
  runs->clear();
  std::int64_t n = n0, t = 0;
  while (t < count) {
    const std::int64_t b = n / P, pix = n - b * P;
    const std::int64_t oy = pix / g.out_w, ox = pix - oy * g.out_w;
    const std::int64_t len = std::min({g.out_w - ox, count - t, split - t % split});
    runs->push_back(
        {group_base + b * image_stride, oy * g.stride_h - g.pad_h, ox * g.stride_w - g.pad_w, len, offset(t)});
    n += len;
    t += len;
  }
}

// The tap (c, i, j) of row / column index kk of the column matrix, advanced incrementally.
struct Tap {
  std::int64_t c, i, j;
  Tap(const Conv2dGeometry& g, std::int64_t kk) {
    const std::int64_t KK = g.kernel_h * g.kernel_w;
    c = kk / KK;
    const std::int64_t r = kk - c * KK;
    i = r / g.kernel_w;
    j = r - i * g.kernel_w;
  }
  void next(const Conv2dGeometry& g) {
    if (++j == g.kernel_w) {
      j = 0;
      if (++i == g.kernel_h) {
        i = 0;
        ++c;
      }
    }
  }
};

// out[t * step] = row[x0 + t * stride] for t in [0, len), 0 where the column is padding.
inline void gather_row(const Conv2dGeometry& g, const float* row, std::int64_t x0, std::int64_t len, float* out,
                       std::int64_t step) {
  std::int64_t lo, hi;
  if (g.stride_w == 1) {
    lo = std::min(len, std::max<std::int64_t>(0, -x0));
    hi = std::max(lo, std::min(len, g.in_w - x0));
  } else if (x0 >= 0 && x0 + (len - 1) * g.stride_w < g.in_w) {
    lo = 0;  // the common case, away from the borders: no divisions
    hi = len;
  } else {
    math::conv_valid_range(x0, g.stride_w, g.in_w, len, &lo, &hi);
  }
  if (step == 1) {
    for (std::int64_t t = 0; t < lo; ++t) out[t] = 0.0f;
    if (g.stride_w == 1) {
      const float* src = row + x0;
      for (std::int64_t t = lo; t < hi; ++t) out[t] = src[t];
    } else {
      for (std::int64_t t = lo; t < hi; ++t) out[t] = row[x0 + t * g.stride_w];
    }
    for (std::int64_t t = hi; t < len; ++t) out[t] = 0.0f;
  } else {
    for (std::int64_t t = 0; t < lo; ++t) out[t * step] = 0.0f;
    for (std::int64_t t = lo; t < hi; ++t) out[t * step] = row[x0 + t * g.stride_w];
    for (std::int64_t t = hi; t < len; ++t) out[t * step] = 0.0f;
  }
}

inline void zero_strided(float* out, std::int64_t len, std::int64_t step) {
  for (std::int64_t t = 0; t < len; ++t) out[t * step] = 0.0f;
}

// Output rows narrower than this make row runs too short to pay for their bounds logic:
// such images use a per-(tap, pixel) table of input offsets instead.
constexpr std::int64_t kSmallRowWidth = 16;
constexpr std::int64_t kMaxTableEntries = 1 << 16;
// Channel planes of at most this many floats fit four AVX-512 registers (pack_small_columns).
constexpr std::int64_t kTinyPlane = 64;

// taps[(i*kw + j) * P + p] = offset of the input pixel tap (i, j) of output pixel p reads
// within one channel plane, or -1 for padding. Empty when the images are not small.
std::vector<std::int32_t> tap_table(const Conv2dGeometry& g) {
  const std::int64_t P = g.out_h * g.out_w, KK = g.kernel_h * g.kernel_w;
  std::vector<std::int32_t> taps;
  // Stride-2 rows have a vector packer on AVX-512 (two loads and a permute per 16 columns),
  // faster than the table's gathers even for 4-wide rows (a 256-channel 8x8 -> 4x4 layer at
  // batch 1: 54 vs 65 us; 64 channels 32x32 -> 16x16: 106 vs 201 us); other strides gather
  // element by element anyway, and the table is cheaper there. Planes of up to 64 floats (8x8
  // maps) take the table at every stride: the AVX-512 packer then permutes each kernel
  // position's pixels out of the plane held in registers (conv2d_columns_simd.h).
  const bool vector_packers = FLEXCONV_PICK_ISA(has_vector_column_packers)();
  const bool tiny_plane = vector_packers && g.in_h * g.in_w <= kTinyPlane;
  const bool vector_rows = g.stride_w == 2 && vector_packers && !tiny_plane;
  if ((g.out_w >= kSmallRowWidth && g.stride_w == 1 && !tiny_plane) || vector_rows || KK * P > kMaxTableEntries ||
      g.in_h * g.in_w >= (std::int64_t{1} << 31))
    return taps;
  taps.resize(static_cast<size_t>(KK * P));
  for (std::int64_t i = 0; i < g.kernel_h; ++i) {
    for (std::int64_t j = 0; j < g.kernel_w; ++j) {
      std::int32_t* t = taps.data() + (i * g.kernel_w + j) * P;
      for (std::int64_t oy = 0; oy < g.out_h; ++oy) {
        for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
          const std::int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
          const std::int64_t ix = ox * g.stride_w - g.pad_w + j * g.dil_w;
          const bool inside = iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
          t[oy * g.out_w + ox] = inside ? static_cast<std::int32_t>(iy * g.in_w + ix) : -1;
        }
      }
    }
  }
  return taps;
}

// Per kernel position, the offset s such that the tap table's entries are pixel index + s (or
// -1): stride 1, output rows as wide as the input's (the "same" padding of odd kernels), so
// output pixels and input pixels advance together across rows. Empty otherwise.
std::vector<std::int64_t> tap_shifts(const Conv2dGeometry& g) {
  std::vector<std::int64_t> shifts;
  if (g.stride_h != 1 || g.stride_w != 1 || g.out_w != g.in_w) return shifts;
  for (std::int64_t i = 0; i < g.kernel_h; ++i) {
    for (std::int64_t j = 0; j < g.kernel_w; ++j) {
      shifts.push_back((i * g.dil_h - g.pad_h) * g.in_w + (j * g.dil_w - g.pad_w));
    }
  }
  return shifts;
}

template <typename Offset>
void split_image_runs(const Conv2dGeometry& g, const float* group_base, std::int64_t image_stride, std::int64_t n0,
                      std::int64_t count, std::int64_t split, Offset offset, std::vector<ColumnImageRun>* runs) {
  const std::int64_t P = g.out_h * g.out_w;
  runs->clear();
  for (std::int64_t n = n0, t = 0; t < count;) {
    const std::int64_t b = n / P, p = n - b * P;
    const std::int64_t len = std::min({P - p, count - t, split - t % split});
    runs->push_back({group_base + b * image_stride, p, len, offset(t)});
    n += len;
    t += len;
  }
}

}  // namespace

ColumnSource::ColumnSource(const Conv2dGeometry& g, const float* input, std::int64_t group, std::int64_t image0,
                           std::int64_t images)
    : g_(g),
      input_(input),
      group_(group),
      image0_(image0),
      images_(images),
      taps_(tap_table(g)),
      tap_shifts_(taps_.empty() ? std::vector<std::int64_t>() : tap_shifts(g)) {}

TransposedColumnSource::TransposedColumnSource(const Conv2dGeometry& g, const float* input, std::int64_t group)
    : g_(g), input_(input), group_(group), taps_(tap_table(g)) {}

void ColumnSource::pack_small(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr,
                              float* dst) const {
  const Conv2dGeometry& g = g_;
  const std::int64_t HW = g.in_h * g.in_w, Cg = g.in_channels / g.groups, P = g.out_h * g.out_w;
  const std::int64_t KK = g.kernel_h * g.kernel_w;
  const float* base = input_ + (image0_ * g.in_channels + group_ * Cg) * HW;
  std::vector<ColumnImageRun> runs;
  split_image_runs(
      g, base, g.in_channels * HW, n0, nc, nr, [&](std::int64_t t) { return (t / nr) * kc * nr + t % nr; }, &runs);
  if (FLEXCONV_PICK_ISA(pack_small_columns)(runs.data(), static_cast<std::int64_t>(runs.size()), taps_.data(),
                                            tap_shifts_.empty() ? nullptr : tap_shifts_.data(), P, KK, HW, k0, kc, nr,
                                            dst)) {
    return;
  }
  for (std::int64_t k = 0; k < kc; ++k) {
    const std::int64_t kk = k0 + k, c = kk / KK;
    const std::int32_t* taps = taps_.data() + (kk - c * KK) * P;
    float* out = dst + k * nr;
    for (const ColumnImageRun& run : runs) {
      const float* plane = run.image + c * HW;
      const std::int32_t* t = taps + run.p;
      float* o = out + run.offset;
      for (std::int64_t q = 0; q < run.len; ++q) o[q] = t[q] >= 0 ? plane[t[q]] : 0.0f;
    }
  }
}

void TransposedColumnSource::pack_small(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr,
                                        float* dst) const {
  const Conv2dGeometry& g = g_;
  const std::int64_t HW = g.in_h * g.in_w, Cg = g.in_channels / g.groups, P = g.out_h * g.out_w;
  const std::int64_t KK = g.kernel_h * g.kernel_w;
  const float* base = input_ + group_ * Cg * HW;
  std::vector<ColumnImageRun> runs;
  split_image_runs(
      g, base, g.in_channels * HW, k0, kc, kc, [](std::int64_t t) { return t; }, &runs);
  // As in pack(): gather ~64 rows of one panel column by column, then transpose them in.
  constexpr std::int64_t kRowsPerPass = 64;
  std::vector<float> rows_of(static_cast<size_t>(nr * std::max<std::int64_t>(kRowsPerPass, P)));
  std::vector<ColumnImageRun> pass_runs;
  for (std::int64_t p0 = 0; p0 < nc; p0 += nr) {
    const int cols = static_cast<int>(std::min<std::int64_t>(nr, nc - p0));
    float* panel = dst + (p0 / nr) * kc * nr;
    for (size_t r0 = 0; r0 < runs.size();) {
      size_t r1 = r0;
      std::int64_t rows = 0;
      while (r1 < runs.size() && (r1 == r0 || rows + runs[r1].len <= kRowsPerPass)) rows += runs[r1++].len;
      const std::int64_t row0 = runs[r0].offset;
      // The panel's columns as rows of `rows` pixels, by the vector packer where there is one
      // (the column matrix's rows n0 + p0 .. + cols, written `rows` floats apart).
      pass_runs.assign(runs.begin() + static_cast<std::ptrdiff_t>(r0), runs.begin() + static_cast<std::ptrdiff_t>(r1));
      for (ColumnImageRun& run : pass_runs) run.offset -= row0;
      if (FLEXCONV_PICK_ISA(pack_small_columns)(pass_runs.data(), static_cast<std::int64_t>(pass_runs.size()),
                                                taps_.data(), nullptr, P, KK, HW, n0 + p0, cols, static_cast<int>(rows),
                                                rows_of.data())) {
        gemm::pack_panel_transposed(rows_of.data(), rows, cols, nr, rows, panel + row0 * nr);
        r0 = r1;
        continue;
      }
      for (int t = 0; t < cols; ++t) {
        const std::int64_t w = n0 + p0 + t, c = w / KK;
        const std::int32_t* taps = taps_.data() + (w - c * KK) * P;
        float* column = rows_of.data() + t * rows;
        for (size_t r = r0; r < r1; ++r) {
          const ColumnImageRun& run = runs[r];
          const float* plane = run.image + c * HW;
          const std::int32_t* tp = taps + run.p;
          float* o = column + (run.offset - row0);
          for (std::int64_t q = 0; q < run.len; ++q) o[q] = tp[q] >= 0 ? plane[tp[q]] : 0.0f;
        }
      }
      gemm::pack_panel_transposed(rows_of.data(), rows, cols, nr, rows, panel + row0 * nr);
      r0 = r1;
    }
  }
}

namespace {

// Zeroes the columns past nc in the last (partial) panel that the micro-kernel reads: a 4x4
// map's 16 columns in a 48-column panel need none, where zeroing all 32 took a tenth of a
// small conv's time.
void zero_tail(std::int64_t kc, std::int64_t nc, int nr, float* dst) {
  const std::int64_t tail = nc % nr;
  if (tail == 0) return;
  const std::int64_t end = gemm::panel_read_width(tail, nr);
  if (end == tail) return;
  float* last = dst + (nc / nr) * kc * nr;
  for (std::int64_t k = 0; k < kc; ++k) std::fill(last + k * nr + tail, last + k * nr + end, 0.0f);
}

}  // namespace

void ColumnSource::pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr, float* dst) const {
  if (!taps_.empty()) {
    pack_small(k0, kc, n0, nc, nr, dst);
    zero_tail(kc, nc, nr, dst);
    return;
  }
  const Conv2dGeometry& g = g_;
  const std::int64_t HW = g.in_h * g.in_w, Cg = g.in_channels / g.groups;
  const float* base = input_ + (image0_ * g.in_channels + group_ * Cg) * HW;
  std::vector<Run> runs;
  split_runs(
      g, base, g.in_channels * HW, n0, nc, nr, [&](std::int64_t t) { return (t / nr) * kc * nr + t % nr; }, &runs);
  if (FLEXCONV_PICK_ISA(pack_columns_vectorised)(runs.data(), static_cast<std::int64_t>(runs.size()), k0, kc, nr,
                                                 g.kernel_h, g.kernel_w, g.stride_w, g.dil_h, g.dil_w, g.in_h, g.in_w,
                                                 dst)) {
    zero_tail(kc, nc, nr, dst);
    return;
  }
  Tap tap(g, k0);
  for (std::int64_t k = 0; k < kc; ++k, tap.next(g)) {
    const std::int64_t dy = tap.i * g.dil_h, dx = tap.j * g.dil_w;
    float* out = dst + k * nr;
    for (const Run& run : runs) {
      const std::int64_t iy = run.iy0 + dy;
      float* o = out + run.offset;
      if (iy < 0 || iy >= g.in_h) {
        for (std::int64_t t = 0; t < run.len; ++t) o[t] = 0.0f;
      } else {
        gather_row(g, run.image + tap.c * HW + iy * g.in_w, run.x0 + dx, run.len, o, 1);
      }
    }
  }
  zero_tail(kc, nc, nr, dst);
}

void TransposedColumnSource::pack(std::int64_t k0, std::int64_t kc, std::int64_t n0, std::int64_t nc, int nr,
                                  float* dst) const {
  const Conv2dGeometry& g = g_;
  const std::int64_t HW = g.in_h * g.in_w, Cg = g.in_channels / g.groups;
  const float* base = input_ + group_ * Cg * HW;
  std::vector<Run> runs;
  split_runs(
      g, base, g.in_channels * HW, k0, kc, kc, [](std::int64_t t) { return t; }, &runs);
  // Gather and transpose in one pass (16 x 16 register blocks, pieces spanning short rows and
  // images): no intermediate rows, no per-element offset table. Only the AVX-512 copy does.
  if (g.stride_w == 1 && nr % 16 == 0 && g.kernel_h * g.kernel_w <= kTransposedPackerMaxTaps &&
      FLEXCONV_PICK_ISA(pack_transposed_columns_stride1)(runs.data(), static_cast<std::int64_t>(runs.size()), kc, n0,
                                                         nc, nr, g.kernel_h, g.kernel_w, g.dil_h, g.dil_w, g.in_h,
                                                         g.in_w, dst)) {
    return;
  }
  if (!taps_.empty()) {
    pack_small(k0, kc, n0, nc, nr, dst);  // writes whole panels, zeros included
    return;
  }
  // Panel by panel, about 64 rows at a time: gather each panel column's pixels contiguously
  // into `rows_of` (cheap row copies), then transpose that small block into the panel with
  // the GEMM core's vectorised panel transpose.
  constexpr std::int64_t kRowsPerPass = 64;
  std::vector<float> rows_of(static_cast<size_t>(nr * std::max<std::int64_t>(kRowsPerPass, g.out_w)));
  const bool vectorised = g.stride_w <= 2;  // pack_columns_vectorised's strides
  std::vector<Run> pass_runs;
  for (std::int64_t p0 = 0; p0 < nc; p0 += nr) {
    const int cols = static_cast<int>(std::min<std::int64_t>(nr, nc - p0));
    float* panel = dst + (p0 / nr) * kc * nr;
    const Tap first(g, n0 + p0);
    for (size_t r0 = 0; r0 < runs.size();) {
      size_t r1 = r0;
      std::int64_t rows = 0;
      while (r1 < runs.size() && (r1 == r0 || rows + runs[r1].len <= kRowsPerPass)) rows += runs[r1++].len;
      const std::int64_t row0 = runs[r0].offset;
      if (vectorised) {
        pass_runs.assign(runs.begin() + static_cast<std::ptrdiff_t>(r0),
                         runs.begin() + static_cast<std::ptrdiff_t>(r1));
        for (Run& run : pass_runs) run.offset -= row0;
        // Tap t of the panel goes to row t of rows_of (rows floats apart).
        if (FLEXCONV_PICK_ISA(pack_columns_vectorised)(pass_runs.data(), static_cast<std::int64_t>(pass_runs.size()),
                                                       n0 + p0, cols, static_cast<int>(rows), g.kernel_h, g.kernel_w,
                                                       g.stride_w, g.dil_h, g.dil_w, g.in_h, g.in_w, rows_of.data())) {
          gemm::pack_panel_transposed(rows_of.data(), rows, cols, nr, rows, panel + row0 * nr);
          r0 = r1;
          continue;
        }
      }
      Tap tap = first;
      for (int t = 0; t < cols; ++t, tap.next(g)) {
        const std::int64_t dy = tap.i * g.dil_h, dx = tap.j * g.dil_w;
        float* column = rows_of.data() + t * rows;
        for (size_t r = r0; r < r1; ++r) {
          const Run& run = runs[r];
          const std::int64_t iy = run.iy0 + dy;
          float* o = column + (run.offset - row0);
          if (iy < 0 || iy >= g.in_h) {
            for (std::int64_t q = 0; q < run.len; ++q) o[q] = 0.0f;
          } else {
            gather_row(g, run.image + tap.c * HW + iy * g.in_w, run.x0 + dx, run.len, o, 1);
          }
        }
      }
      gemm::pack_panel_transposed(rows_of.data(), rows, cols, nr, rows, panel + row0 * nr);
      r0 = r1;
    }
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
    const int rows = static_cast<int>(std::min<std::int64_t>(mr, mc - p0));
    for (const Span& s : spans) {
      const float* src = data_ + s.image * image_stride_ + (row0_ + m0 + p0) * plane_ + s.p;
      gemm::pack_panel_transposed(src, plane_, rows, mr, s.len, dst + s.offset * mr);
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
      math::conv_valid_range(x0, g.stride_w, g.in_w, g.out_w, &lo, &hi);
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
