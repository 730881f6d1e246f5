// The column packers for stride-1 and stride-2 convolutions and for small images (declared in
// conv2d_columns_simd.h), compiled once per instruction set (core/isa.h); only the AVX-512 copy
// has them.
//
// Each 16-column piece of a run is one load (stride 1) or two loads and a permute that keeps
// the even lanes (stride 2: 32 consecutive input pixels for 16 outputs), masked where the
// columns are padding (the masked lanes read as 0 and touch no memory), and one store. Which
// columns are padding depends on the run and the tap's kernel position (i, j) only, not on the
// channel, so the masks and source offsets are worked out once per (kernel position, run) and
// reused for every channel: the per-channel loop is nothing but loads, permutes and stores.
// Small images read through conv2d_columns.cc's tap table: a masked load per 16 pixels where
// the table is a constant shift, planes of up to 64 floats permuted out of registers, a gather
// otherwise.
#include <cstdint>

#include "core/isa.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "cpu/conv2d_columns_simd.h"

FLEXCONV_ISA_BEGIN
#if defined(__AVX512F__)
bool has_vector_column_packers() { return true; }

namespace {

// One run of pixels at one kernel position: where its pixels come from within a channel
// plane, where they go, and the load / store masks of its 16-column pieces.
struct Piece {
  std::int64_t src;  // offset within the channel plane of the piece's first input pixel (any value when unloaded)
  std::int64_t dst;  // offset within a packed row
  // Input lanes [0, 16) and [16, 32) (stride 2 reads 32 pixels for 16 columns; stride 1 only the first 16).
  __mmask16 load_lo, load_hi;
  __mmask16 store;
};

constexpr int kMaxPieces = 256;

// Output columns t of [0, len) whose input column x + stride * t lies in [0, in_w): [*lo, *hi).
void inside_columns(std::int64_t x, std::int64_t stride, std::int64_t in_w, std::int64_t len, std::int64_t* lo,
                    std::int64_t* hi) {
  std::int64_t a = x >= 0 ? 0 : (-x + stride - 1) / stride;
  std::int64_t b = x >= in_w ? 0 : (in_w - 1 - x) / stride + 1;
  a = a < len ? a : len;
  b = b < len ? b : len;
  *lo = a;
  *hi = b < a ? a : b;
}

template <int kStride>
bool pack_columns_at_stride(const ColumnRun* runs, std::int64_t nruns, std::int64_t k0, std::int64_t kc, int nr,
                            std::int64_t kernel_h, std::int64_t kernel_w, std::int64_t dil_h, std::int64_t dil_w,
                            std::int64_t in_h, std::int64_t in_w, float* dst) {
  const std::int64_t KK = kernel_h * kernel_w, HW = in_h * in_w;
  // Lane l of the permute's result is lane 2l of (lo, hi): the even input pixels.
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
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
        part.x0 = runs[r0].x0 + kStride * t;
        part.offset = runs[r0].offset + t;
        part.len = runs[r0].len - t < step ? runs[r0].len - t : step;
        pack_columns_at_stride<kStride>(&part, 1, k0, kc, nr, kernel_h, kernel_w, dil_h, dil_w, in_h, in_w, dst);
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
        if (iy >= 0 && iy < in_h) inside_columns(x, kStride, in_w, len, &lo, &hi);
        // Offsets relative to the batch's first image (runs of a batch may span images).
        const std::int64_t base = (run.image - image) + iy * in_w + x;
        for (std::int64_t v = 0; v < len; v += 16) {
          const std::int64_t left = len - v;
          const unsigned store = left >= 16 ? 0xFFFFu : (1u << left) - 1u;
          std::int64_t a = lo - v, b = hi - v;
          a = a < 0 ? 0 : (a > 16 ? 16 : a);
          b = b < 0 ? 0 : (b > 16 ? 16 : b);
          // Input lanes [kStride * a, kStride * (b - 1)] hold the inside columns' pixels (and,
          // at stride 2, the odd pixels between them, which the permute drops).
          const std::uint64_t load =
              b > a ? ((std::uint64_t{1} << (kStride * (b - 1) + 1)) - 1) & ~((std::uint64_t{1} << (kStride * a)) - 1)
                    : 0;
          pieces[n++] = Piece{load ? base + kStride * v : 0, run.offset + v, static_cast<__mmask16>(load & 0xFFFFu),
                              static_cast<__mmask16>(load >> 16), static_cast<__mmask16>(store)};
        }
      }
      for (std::int64_t k = c_first * KK + tap; k < k1; k += KK) {
        const float* plane = image + (k / KK) * HW;
        float* out = dst + (k - k0) * nr;
        for (int p = 0; p < n; ++p) {
          const Piece& pc = pieces[p];
          // Masked-off lanes are neither read nor faulted on.
          // The same piece two channels on: each channel plane is read a few short rows at a
          // time, which the hardware prefetcher does not follow (16x16 -> 8x8 stride-2 convs
          // 1.05-1.1x faster, larger planes unchanged).
          _mm_prefetch(reinterpret_cast<const char*>(plane + 2 * HW + pc.src), _MM_HINT_T0);
          __m512 v = _mm512_maskz_loadu_ps(pc.load_lo, plane + pc.src);
          if (kStride == 2) v = _mm512_permutex2var_ps(v, even, _mm512_maskz_loadu_ps(pc.load_hi, plane + pc.src + 16));
          _mm512_mask_storeu_ps(out + pc.dst, pc.store, v);
        }
      }
    }
    r0 = r1;
  }
  return true;
}

// One piece of the small-image packer: up to 16 consecutive pixels of a run (across output
// rows) at one kernel position, read by a masked load (`src`) or a gather (`index`).
struct SmallPiece {
  __m512i index;       // each lane's input offset within a channel plane (any value where not loaded)
  std::int64_t image;  // the run's image, in floats from the batch's first
  std::int64_t src;    // lane 0's input offset within a channel plane (masked loads only)
  std::int64_t dst;    // offset within a packed row
  __mmask16 load, store;
};

// One piece of the tiny-plane packer: up to 16 consecutive pixels of a run at one kernel
// position, each lane's input offset within the channel plane (< 64) or -1 for padding.
struct TinyPiece {
  __m512i index;
  std::int64_t dst;  // offset within a packed row
  __mmask16 load;    // lanes that read the plane (the others are padding or past the run)
  __mmask16 upper;   // lanes reading the plane's second 32 floats
  __mmask16 store;
};

// v[i] = the plane's floats selected by index[i] (a float from registers, no memory access),
// zero where `load` is off. Planes of up to 16, 32 or 64 floats: 1, 2 or 4 registers.
template <int kVectors>
__m512 select_from_plane(const __m512* r, const TinyPiece& pc) {
  const __m512i index = pc.index;
  if (kVectors == 1) return _mm512_maskz_permutexvar_ps(pc.load, index, r[0]);
  const __m512 low = _mm512_maskz_permutex2var_ps(pc.load, r[0], index, r[1]);
  if (kVectors == 2) return low;
  return _mm512_mask_mov_ps(low, pc.upper, _mm512_permutex2var_ps(r[2], index, r[3]));
}

// pack_small_columns for channel planes of at most 16 * kVectors floats (8x8 maps and smaller)
// without a constant shift (stride 2, 'valid' padding): each channel plane of a run's image is
// loaded into kVectors registers once and every kernel position's pixels are permuted out of
// them, instead of a 16-lane gather per position (or, at stride 2, four 4-wide row pieces of two
// masked loads and a permute each for a 4x4 output map). Run by run, kernel positions in groups
// whose pieces fit the table (a run has at most 4096 pixels: 256 pieces at one position).
template <int kVectors>
void pack_tiny_plane_columns(const ColumnImageRun* runs, std::int64_t nruns, const std::int32_t* taps, std::int64_t P,
                             std::int64_t KK, std::int64_t plane, std::int64_t k0, std::int64_t kc, int nr,
                             float* dst) {
  const std::int64_t k1 = k0 + kc;
  __mmask16 plane_mask[kVectors];
  for (int i = 0; i < kVectors; ++i) {
    const std::int64_t left = plane - 16 * i;
    plane_mask[i] = static_cast<__mmask16>(left >= 16 ? 0xFFFFu : left > 0 ? (1u << left) - 1u : 0u);
  }
  TinyPiece pieces[kMaxPieces];
  int first[kMaxPieces + 1];  // first[t]: the first piece of kernel position tap0 + t
  const std::int64_t c0 = k0 / KK, c1 = (k1 - 1) / KK;
  for (std::int64_t r = 0; r < nruns; ++r) {
    const ColumnImageRun& run = runs[r];
    const std::int64_t per_tap = (run.len + 15) / 16;
    for (std::int64_t tap0 = 0, tap1 = 0; tap0 < KK; tap0 = tap1) {
      int n = 0;
      for (tap1 = tap0; tap1 < KK && n + per_tap <= kMaxPieces; ++tap1) {
        first[tap1 - tap0] = n;
        const std::int32_t* offsets = taps + tap1 * P + run.p;
        for (std::int64_t v = 0; v < run.len; v += 16) {
          TinyPiece& pc = pieces[n++];
          const std::int64_t left = run.len - v;
          pc.store = static_cast<__mmask16>(left >= 16 ? 0xFFFFu : (1u << left) - 1u);
          pc.index = _mm512_maskz_loadu_epi32(pc.store, offsets + v);
          pc.load = _mm512_mask_cmpge_epi32_mask(pc.store, pc.index, _mm512_setzero_si512());  // -1: padding
          pc.upper = _mm512_mask_cmpge_epi32_mask(pc.store, pc.index, _mm512_set1_epi32(32));
          pc.dst = run.offset + v;
        }
      }
      first[tap1 - tap0] = n;
      for (std::int64_t c = c0; c <= c1; ++c) {
        // Kernel positions of this group whose rows c * KK + tap lie in [k0, k1).
        const std::int64_t a = c * KK + tap0 < k0 ? k0 - c * KK : tap0;
        const std::int64_t b = c * KK + tap1 > k1 ? k1 - c * KK : tap1;
        if (a >= b) continue;
        const float* channel = run.image + c * plane;
        // The plane two channels on: little work per cache line here, so the loads would
        // otherwise wait on memory (the run's image is usually read for the first time).
        for (int i = 0; i < kVectors; ++i)
          _mm_prefetch(reinterpret_cast<const char*>(channel + 2 * plane + 16 * i), _MM_HINT_T0);
        __m512 reg[kVectors];
        for (int i = 0; i < kVectors; ++i) reg[i] = _mm512_maskz_loadu_ps(plane_mask[i], channel + 16 * i);
        for (std::int64_t tap = a; tap < b; ++tap) {
          float* out = dst + (c * KK + tap - k0) * nr;
          for (int p = first[tap - tap0]; p < first[tap - tap0 + 1]; ++p) {
            _mm512_mask_storeu_ps(out + pieces[p].dst, pieces[p].store, select_from_plane<kVectors>(reg, pieces[p]));
          }
        }
      }
    }
  }
}

}  // namespace

bool pack_small_columns(const ColumnImageRun* runs, std::int64_t nruns, const std::int32_t* taps,
                        const std::int64_t* shifts, std::int64_t P, std::int64_t KK, std::int64_t plane,
                        std::int64_t k0, std::int64_t kc, int nr, float* dst) {
  if (!shifts && plane <= 16) {
    pack_tiny_plane_columns<1>(runs, nruns, taps, P, KK, plane, k0, kc, nr, dst);
    return true;
  }
  if (!shifts && plane <= 32) {
    pack_tiny_plane_columns<2>(runs, nruns, taps, P, KK, plane, k0, kc, nr, dst);
    return true;
  }
  if (!shifts && plane <= 64) {
    pack_tiny_plane_columns<4>(runs, nruns, taps, P, KK, plane, k0, kc, nr, dst);
    return true;
  }
  const std::int64_t k1 = k0 + kc;
  const __m512i none = _mm512_setzero_si512();
  SmallPiece pieces[kMaxPieces];
  for (std::int64_t r0 = 0; r0 < nruns;) {
    std::int64_t r1 = r0, count = 0;
    while (r1 < nruns && count + (runs[r1].len + 15) / 16 <= kMaxPieces) count += (runs[r1++].len + 15) / 16;
    // (Runs end at panel boundaries, so none is longer than the table; the caller's portable
    // loop would pack one that is.)
    if (r1 == r0) return false;
    const float* first = runs[r0].image;
    for (std::int64_t tap = 0; tap < KK; ++tap) {
      // Channels c whose row k = c * KK + tap lies in [k0, k1).
      const std::int64_t c_first = k0 <= tap ? 0 : (k0 - tap + KK - 1) / KK;
      if (c_first * KK + tap >= k1) continue;
      // The masks and offsets depend on the kernel position only: worked out once for every channel.
      const std::int32_t* offsets = taps + tap * P;
      int n = 0;
      for (std::int64_t r = r0; r < r1; ++r) {
        const ColumnImageRun& run = runs[r];
        for (std::int64_t v = 0; v < run.len; v += 16) {
          const std::int64_t left = run.len - v;
          const auto store = static_cast<__mmask16>(left >= 16 ? 0xFFFFu : (1u << left) - 1u);
          const __m512i index = _mm512_maskz_loadu_epi32(store, offsets + run.p + v);
          const __mmask16 load = _mm512_mask_cmpge_epi32_mask(store, index, none);  // -1: padding
          pieces[n++] =
              SmallPiece{index, run.image - first, shifts ? run.p + v + shifts[tap] : 0, run.offset + v, load, store};
        }
      }
      for (std::int64_t k = c_first * KK + tap; k < k1; k += KK) {
        const float* channel = first + (k / KK) * plane;
        float* out = dst + (k - k0) * nr;
        // Masked-off lanes are neither read nor faulted on.
        if (shifts) {
          for (int p = 0; p < n; ++p) {
            const SmallPiece& pc = pieces[p];
            _mm512_mask_storeu_ps(out + pc.dst, pc.store, _mm512_maskz_loadu_ps(pc.load, channel + pc.image + pc.src));
          }
        } else {
          for (int p = 0; p < n; ++p) {
            const SmallPiece& pc = pieces[p];
            const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), pc.load, pc.index, channel + pc.image, 4);
            _mm512_mask_storeu_ps(out + pc.dst, pc.store, v);
          }
        }
      }
    }
    r0 = r1;
  }
  return true;
}

bool pack_columns_vectorised(const ColumnRun* runs, std::int64_t nruns, std::int64_t k0, std::int64_t kc, int nr,
                             std::int64_t kernel_h, std::int64_t kernel_w, std::int64_t stride_w, std::int64_t dil_h,
                             std::int64_t dil_w, std::int64_t in_h, std::int64_t in_w, float* dst) {
  if (stride_w == 1) {
    return pack_columns_at_stride<1>(runs, nruns, k0, kc, nr, kernel_h, kernel_w, dil_h, dil_w, in_h, in_w, dst);
  }
  if (stride_w == 2) {
    return pack_columns_at_stride<2>(runs, nruns, k0, kc, nr, kernel_h, kernel_w, dil_h, dil_w, in_h, in_w, dst);
  }
  return false;
}

#else
// Below AVX-512 there is no vector packer (the masked 16-lane loads are what make it pay): the
// caller packs with its portable loop.
bool has_vector_column_packers() { return false; }

bool pack_columns_vectorised(const ColumnRun*, std::int64_t, std::int64_t, std::int64_t, int, std::int64_t,
                             std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                             float*) {
  return false;
}

bool pack_small_columns(const ColumnImageRun*, std::int64_t, const std::int32_t*, const std::int64_t*, std::int64_t,
                        std::int64_t, std::int64_t, std::int64_t, std::int64_t, int, float*) {
  return false;
}
#endif
FLEXCONV_ISA_END
