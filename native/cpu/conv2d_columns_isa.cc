// The column packer for stride-1 convolutions (declared in conv2d_columns_simd.h), compiled once
// per instruction set (core/isa.h); only the AVX-512 copy has one.
//
// Each 16-column piece of a run is one load, masked where the columns are padding (the masked
// lanes read as 0 and touch no memory), and one store. Which columns are padding depends on
// the run and the tap's kernel position (i, j) only, not on the channel, so the masks and
// source offsets are worked out once per (kernel position, run) and reused for every channel:
// the per-channel loop is nothing but loads and stores.
#include <cstdint>

#include "core/isa.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/conv2d_columns_simd.h"

FLEXCONV_ISA_BEGIN
#if defined(__AVX512F__)
bool has_stride1_column_packers() { return true; }

namespace {

// One run of pixels at one kernel position: where its pixels come from within a channel
// plane, where they go, and the load / store masks of its 16-column pieces.
struct Piece {
  std::int64_t src;  // offset within the channel plane of the piece's first column (any value when the load mask is 0)
  std::int64_t dst;  // offset within a packed row
  __mmask16 load, store;
};

constexpr int kMaxPieces = 256;

}  // namespace

bool pack_columns_stride1(const ColumnRun* runs, std::int64_t nruns, std::int64_t k0, std::int64_t kc, int nr,
                          std::int64_t kernel_h, std::int64_t kernel_w, std::int64_t dil_h, std::int64_t dil_w,
                          std::int64_t in_h, std::int64_t in_w, float* dst) {
  const std::int64_t KK = kernel_h * kernel_w, HW = in_h * in_w;
  const std::int64_t k1 = k0 + kc;
  Piece pieces[kMaxPieces];
  // Runs in batches whose pieces fit the table.
  for (std::int64_t r0 = 0; r0 < nruns;) {
    std::int64_t r1 = r0, count = 0;
    while (r1 < nruns && count + (runs[r1].len + 15) / 16 <= kMaxPieces) count += (runs[r1++].len + 15) / 16;
    if (r1 == r0) {
      // A run longer than the whole table: split it into table-sized runs.
      ColumnRun part = runs[r0];
      const std::int64_t step = static_cast<std::int64_t>(kMaxPieces) * 16;
      for (std::int64_t t = 0; t < runs[r0].len; t += step) {
        part.x0 = runs[r0].x0 + t;
        part.offset = runs[r0].offset + t;
        part.len = runs[r0].len - t < step ? runs[r0].len - t : step;
        pack_columns_stride1(&part, 1, k0, kc, nr, kernel_h, kernel_w, dil_h, dil_w, in_h, in_w, dst);
      }
      ++r0;
      continue;
    }
    const float* image = runs[r0].image;
    for (std::int64_t tap = 0; tap < KK; ++tap) {
      // Channels c whose row k = c * KK + tap lies in [k0, k1).
      std::int64_t c_first = k0 <= tap ? 0 : (k0 - tap + KK - 1) / KK;
      if (c_first * KK + tap >= k1) continue;
      const std::int64_t i = tap / kernel_w, j = tap - i * kernel_w;
      const std::int64_t dy = i * dil_h, dx = j * dil_w;
      int n = 0;
      for (std::int64_t r = r0; r < r1; ++r) {
        const ColumnRun& run = runs[r];
        const std::int64_t iy = run.iy0 + dy, x = run.x0 + dx, len = run.len;
        // Columns [lo, hi) of the run read the image; the others are padding (all of them when
        // the row is outside).
        std::int64_t lo = 0, hi = 0;
        if (iy >= 0 && iy < in_h) {
          lo = x < 0 ? -x : 0;
          hi = in_w - x < len ? in_w - x : len;
        }
        // Offsets relative to the batch's first image (runs of a batch may span images).
        const std::int64_t base = (run.image - image) + iy * in_w + x;
        for (std::int64_t v = 0; v < len; v += 16) {
          const std::int64_t left = len - v;
          const unsigned store = left >= 16 ? 0xFFFFu : (1u << left) - 1u;
          std::int64_t a = lo - v, b = hi - v;
          a = a < 0 ? 0 : (a > 16 ? 16 : a);
          b = b < 0 ? 0 : (b > 16 ? 16 : b);
          const unsigned load = b > a ? (((1u << b) - 1u) & ~((1u << a) - 1u) & store) : 0u;
          pieces[n++] =
              Piece{load ? base + v : 0, run.offset + v, static_cast<__mmask16>(load), static_cast<__mmask16>(store)};
        }
      }
      for (std::int64_t k = c_first * KK + tap; k < k1; k += KK) {
        const float* plane = image + (k / KK) * HW;
        float* out = dst + (k - k0) * nr;
        for (int p = 0; p < n; ++p) {
          const Piece& pc = pieces[p];
          // Masked-off lanes are neither read nor faulted on.
          _mm512_mask_storeu_ps(out + pc.dst, pc.store, _mm512_maskz_loadu_ps(pc.load, plane + pc.src));
        }
      }
    }
    r0 = r1;
  }
  return true;
}

#else
// Below AVX-512 there is no vector packer (the masked 16-lane loads are what make it pay): the
// caller packs with its portable loop.
bool has_stride1_column_packers() { return false; }

bool pack_columns_stride1(const ColumnRun*, std::int64_t, std::int64_t, std::int64_t, int, std::int64_t, std::int64_t,
                          std::int64_t, std::int64_t, std::int64_t, std::int64_t, float*) {
  return false;
}
#endif
FLEXCONV_ISA_END
