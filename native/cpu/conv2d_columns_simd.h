// The vector inner loops of conv2d's column packers (cpu/conv2d_columns.cc) for stride-1 (and,
// when not transposed, stride-2) columns, compiled once per instruction set (conv2d_columns_isa.cc,
// conv2d_columns_transposed_isa.cc; core/isa.h). Only the AVX-512 copies pack; the others return
// false and the caller packs with its portable loop. Plain declarations only: this header is
// compiled into the per-ISA files, which must not instantiate inline library code.
#pragma once
#include <cstdint>

#include "core/isa.h"

namespace flexconv {
namespace cpu {

// A run of consecutive output pixels inside one output row of one image (see
// conv2d_columns.cc's split_runs), with what every tap of the kernel needs precomputed.
struct ColumnRun {
  const float* image;  // first channel of this group in the run's image
  std::int64_t iy0;    // input row of tap row 0: oy * stride_h - pad_h
  std::int64_t x0;     // input column of tap column 0 for the run's first pixel
  std::int64_t len;
  std::int64_t offset;  // where the run's first pixel goes in the packed block (in floats or rows)
};

// A run of consecutive output pixels [p, p + len) of one image, rows of any width (the
// small-image packers, which read input offsets from conv2d_columns.cc's tap table).
struct ColumnImageRun {
  const float* image;  // first channel of this group in the run's image
  std::int64_t p, len;
  std::int64_t offset;  // where the run's first pixel goes in a packed row
};

// pack_columns_vectorised: for k in [0, kc): tap (c, i, j) of column-matrix row k0 + k; every run's pixels of that
// tap, dst[k * nr + run.offset + t] = input row (iy0 + i*dil_h) at column x0 + j*dil_w + stride_w * t, or 0 in
// the padding (nr: the distance between packed rows). Stride 1 or 2 along the width (other strides return false);
// the runs' images lie in one tensor.
//
// pack_transposed_columns_stride1: the transposed block (col^T, the weight gradient's B operand) in the GEMM's packed B
// layout: rows are the kc pixels of the runs (in order, covering rows 0..kc: run.offset = the row of its first pixel),
// columns are column-matrix rows [n0, n0 + nc) (taps (c, i, j)), ceil(nc / nr) panels of kc x nr floats, columns past
// nc written as 0. Stride 1 along the width; nr a multiple of 16; at most kTransposedPackerMaxTaps kernel positions.
//
// pack_small_columns: for k in [0, kc), kernel position t = (k0 + k) % KK of channel c = (k0 + k) / KK: every run's
// pixels, dst[k * nr + run.offset + q] = run.image[c * plane + taps[t * P + run.p + q]], or 0 where that entry is -1
// (the tap table). `shifts` (or null): when every entry of kernel position t that is not -1 equals the pixel's index
// plus shifts[t] (stride 1, as wide as the input), pieces of 16 pixels are read with one masked load each instead of a
// gather; otherwise planes of at most 64 floats are loaded into registers once per channel and every kernel position's
// pixels permuted out of them. Runs of at most 4096 pixels.
//
// Each packer returns whether it packed: true exactly when this copy's has_vector_column_packers()
// is (only the AVX-512 copy's) and, for pack_columns_vectorised, the stride is 1 or 2 (for
// pack_small_columns, no run is too long).
#define FLEXCONV_CONV2D_COLUMN_PACKERS_API                                                                           \
  bool has_vector_column_packers();                                                                                  \
  bool pack_columns_vectorised(const ColumnRun* runs, std::int64_t nruns, std::int64_t k0, std::int64_t kc, int nr,  \
                               std::int64_t kernel_h, std::int64_t kernel_w, std::int64_t stride_w,                  \
                               std::int64_t dil_h, std::int64_t dil_w, std::int64_t in_h, std::int64_t in_w,         \
                               float* dst);                                                                          \
  bool pack_transposed_columns_stride1(const ColumnRun* runs, std::int64_t nruns, std::int64_t kc, std::int64_t n0,  \
                                       std::int64_t nc, int nr, std::int64_t kernel_h, std::int64_t kernel_w,        \
                                       std::int64_t dil_h, std::int64_t dil_w, std::int64_t in_h, std::int64_t in_w, \
                                       float* dst);                                                                  \
  bool pack_small_columns(const ColumnImageRun* runs, std::int64_t nruns, const std::int32_t* taps,                  \
                          const std::int64_t* shifts, std::int64_t P, std::int64_t KK, std::int64_t plane,           \
                          std::int64_t k0, std::int64_t kc, int nr, float* dst);
FLEXCONV_DECLARE_PER_ISA(FLEXCONV_CONV2D_COLUMN_PACKERS_API)

constexpr std::int64_t kTransposedPackerMaxTaps = 128;

}  // namespace cpu
}  // namespace flexconv
