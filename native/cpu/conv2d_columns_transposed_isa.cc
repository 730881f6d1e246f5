// The packer of conv2d's transposed column matrix col^T (the weight gradient's B operand,
// declared in conv2d_columns_simd.h), compiled once per instruction set (core/isa.h); only the
// AVX-512 copy has one.
//
// A packed panel holds, per pixel, nr consecutive (channel, tap) columns, while the input holds,
// per (channel, tap), consecutive pixels (stride 1: a run of a tap is a contiguous input row
// segment). So the packer loads 16 pixels (a "piece" of 16 block rows) of each of 16 columns,
// transposes the 16 x 16 block in registers and stores 16 panel rows: one pass, no intermediate
// buffer. A piece may span several runs when rows are narrower than 16 pixels: one masked load
// per run segment, the padding lanes read as 0 and touch no memory. The masks and source offsets
// depend on the kernel position and the segment only, not on the channel: they are worked out
// once per (kernel position, segment) and reused by every channel of every panel of the block.
#include <cstdint>

#include "core/isa.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

// GCC 12 reports the deliberately undefined source operand inside the shuffle intrinsics
// (_mm512_undefined_ps) as maybe-uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "cpu/conv2d_columns_simd.h"
#if defined(__AVX512F__)
#include "cpu/transpose16_avx512.h"
#endif
#include "math/hd.h"

FLEXCONV_ISA_BEGIN
#if defined(__AVX512F__)
namespace {

// The part of a piece that one run covers, at one kernel position.
struct Segment {
  const float* src;  // the element lane 0 would read in channel 0 (only masked lanes are read)
  __mmask16 load;    // lanes that read the input (the others are padding or other segments)
};

// Which run, and which of its pixels, a segment covers: the same at every kernel position.
struct SegmentRun {
  std::int64_t run, first;  // run index, first pixel within the run
  int lane, len;            // lanes [lane, lane + len) of the piece
};

// Rows [row, row + len) of the block; its segments are [seg_begin, seg_end).
struct Piece {
  std::int64_t row;
  int len, seg_begin, seg_end;
};

constexpr int kMaxEntries = 2048;  // (kernel position, segment) entries per batch: 32 KB of stack
constexpr int kMaxSegments = 512;
constexpr int kMaxPieces = 256;

// The 16 columns `entry` / `coff` / `cmask` of every piece, into the panel (`out` = its first
// column). Single: every piece is one segment (segment index = piece index), the common case
// of rows at least 16 pixels wide, kept free of the segment loop.
template <bool Single>
FLEXCONV_HD void pack_pieces(const Piece* pieces, int np, const Segment* const* entry, const std::int64_t* coff,
                             const __mmask16* cmask, float* out, int nr) {
  for (int p = 0; p < np; ++p) {
    const Piece& pc = pieces[p];
    __m512 reg[16];
    if (Single) {
      for (int u = 0; u < 16; ++u) {
        const Segment& e = entry[u][p];
        reg[u] = _mm512_maskz_loadu_ps(e.load & cmask[u], e.src + coff[u]);
      }
    } else {
      for (int u = 0; u < 16; ++u) {
        reg[u] = _mm512_setzero_ps();
        for (int s = pc.seg_begin; s < pc.seg_end; ++s) {
          const Segment& e = entry[u][s];
          reg[u] = _mm512_mask_loadu_ps(reg[u], e.load & cmask[u], e.src + coff[u]);
        }
      }
    }
    transpose16x16(reg);
    float* o = out + pc.row * nr;
    for (int q = 0; q < pc.len; ++q) _mm512_storeu_ps(o + q * nr, reg[q]);
  }
}

}  // namespace

bool pack_transposed_columns_stride1(const ColumnRun* runs, std::int64_t nruns, std::int64_t kc, std::int64_t n0,
                                     std::int64_t nc, int nr, std::int64_t kernel_h, std::int64_t kernel_w,
                                     std::int64_t dil_h, std::int64_t dil_w, std::int64_t in_h, std::int64_t in_w,
                                     float* dst) {
  const std::int64_t KK = kernel_h * kernel_w, HW = in_h * in_w;
  const std::int64_t seg_cap = (kMaxEntries / KK) < kMaxSegments ? kMaxEntries / KK : kMaxSegments;
  const std::int64_t panels = (nc + nr - 1) / nr;
  Segment table[kMaxEntries];  // [kernel position][segment]
  SegmentRun segs[kMaxSegments];
  Piece pieces[kMaxPieces];
  std::int64_t r = 0, v = 0, row = 0;  // the next piece starts at pixel v of run r, block row `row`
  while (row < kc && r < nruns) {
    // A batch of whole pieces whose segments fit the table.
    int np = 0, ns = 0;
    while (row < kc && r < nruns && np < kMaxPieces) {
      const int len = static_cast<int>(kc - row < 16 ? kc - row : 16);
      // This piece's segments, tentatively.
      std::int64_t rr = r, vv = v;
      int lane = 0, count = 0;
      while (lane < len && rr < nruns && ns + count < seg_cap) {
        const std::int64_t left = runs[rr].len - vv;
        const int take = static_cast<int>(left < len - lane ? left : len - lane);
        segs[ns + count++] = SegmentRun{rr, vv, lane, take};
        lane += take;
        vv += take;
        const bool wide = runs[rr].len >= 16;
        if (vv >= runs[rr].len) {
          ++rr;
          vv = 0;
        }
        // Rows at least 16 pixels wide: pieces stop at the run's end (a short piece there is
        // cheaper than a second masked load for each of the piece's columns).
        if (wide) break;
      }
      if (lane < len && rr < nruns && ns + count >= seg_cap) break;  // table full: the piece starts the next batch
      pieces[np++] = Piece{row, lane, ns, ns + count};
      ns += count;
      row += lane;
      r = rr;
      v = vv;
    }
    for (std::int64_t kk = 0; kk < KK; ++kk) {
      const std::int64_t dy = (kk / kernel_w) * dil_h, dx = (kk % kernel_w) * dil_w;
      for (int s = 0; s < ns; ++s) {
        const SegmentRun& sr = segs[s];
        const ColumnRun& run = runs[sr.run];
        const std::int64_t iy = run.iy0 + dy, x = run.x0 + dx + sr.first, len = sr.len;
        // Pixels [lo, hi) of the segment read the image; none when the row is outside.
        std::int64_t lo = 0, hi = 0;
        if (iy >= 0 && iy < in_h) {
          lo = x < 0 ? (-x < len ? -x : len) : 0;
          hi = in_w - x < len ? in_w - x : len;
          if (hi < lo) hi = lo;
        }
        const unsigned bits = ((1u << hi) - 1u) & ~((1u << lo) - 1u);
        const unsigned load = (bits << sr.lane) & 0xFFFFu;
        table[kk * ns + s] =
            Segment{load ? run.image + iy * in_w + x - sr.lane : run.image, static_cast<__mmask16>(load)};
      }
    }
    for (std::int64_t pi = 0; pi < panels; ++pi) {
      float* panel = dst + pi * kc * nr;
      for (int c0 = 0; c0 < nr; c0 += 16) {
        // The 16 columns of this group: their channel offset, kernel position and lane mask
        // (0 past nc: those panel columns are written as zeros).
        std::int64_t coff[16];
        const Segment* entry[16];
        __mmask16 cmask[16];
        for (int u = 0; u < 16; ++u) {
          const std::int64_t w = pi * nr + c0 + u;
          const bool valid = w < nc;
          const std::int64_t col = n0 + (valid ? w : 0), c = col / KK;
          coff[u] = c * HW;
          entry[u] = table + (col - c * KK) * ns;
          cmask[u] = valid ? 0xFFFF : 0;
        }
        if (ns == np) {
          pack_pieces<true>(pieces, np, entry, coff, cmask, panel + c0, nr);
        } else {
          pack_pieces<false>(pieces, np, entry, coff, cmask, panel + c0, nr);
        }
      }
    }
  }
  return true;
}

#else
// Below AVX-512 there is no vector packer (16 x 16 register transposes): the caller packs with
// its portable loop.
bool pack_transposed_columns_stride1(const ColumnRun*, std::int64_t, std::int64_t, std::int64_t, std::int64_t, int,
                                     std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                     float*) {
  return false;
}
#endif
FLEXCONV_ISA_END
