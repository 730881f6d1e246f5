// AVX-512 column packer for stride-1 convolutions (declared in conv2d_columns_simd.h).
// Compiled with -mavx512f...; called only when the active ISA is AVX-512.
//
// Each 16-column piece of a run is one load, masked where the columns are padding (the masked
// lanes read as 0 and touch no memory), and one store.
// No branches on the borders and no separate zero fills, which is where the scalar packer
// spends its time on the short runs of small images (16 or 32 pixels per output row).
#include <immintrin.h>

#include "cpu/conv2d_columns_simd.h"

namespace flexconv {
namespace cpu {

void pack_columns_stride1_avx512(const ColumnRun* runs, std::int64_t nruns, std::int64_t k0, std::int64_t kc, int nr,
                                 std::int64_t kernel_h, std::int64_t kernel_w, std::int64_t dil_h, std::int64_t dil_w,
                                 std::int64_t in_h, std::int64_t in_w, float* dst) {
  const std::int64_t KK = kernel_h * kernel_w, HW = in_h * in_w;
  std::int64_t c = k0 / KK, i = (k0 % KK) / kernel_w, j = k0 % kernel_w;
  for (std::int64_t k = 0; k < kc; ++k) {
    const std::int64_t dy = i * dil_h, dx = j * dil_w, plane = c * HW;
    float* out = dst + k * nr;
    for (std::int64_t r = 0; r < nruns; ++r) {
      const ColumnRun& run = runs[r];
      const std::int64_t iy = run.iy0 + dy, x = run.x0 + dx, len = run.len;
      // Columns [lo, hi) of the run read the image; the others are padding (all of them when
      // the row is outside).
      std::int64_t lo = 0, hi = 0;
      const float* src = run.image + plane;
      if (iy >= 0 && iy < in_h) {
        lo = x < 0 ? -x : 0;
        hi = in_w - x < len ? in_w - x : len;
        src += iy * in_w + x;
      }
      float* o = out + run.offset;
      for (std::int64_t v = 0; v < len; v += 16) {
        const std::int64_t left = len - v;
        const __mmask16 store = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
        std::int64_t a = lo - v, b = hi - v;
        a = a < 0 ? 0 : (a > 16 ? 16 : a);
        b = b < 0 ? 0 : (b > 16 ? 16 : b);
        const __mmask16 load =
            b > a ? static_cast<__mmask16>(((1u << b) - 1u) & ~((1u << a) - 1u) & store) : static_cast<__mmask16>(0);
        // Masked-off lanes are neither read nor faulted on, so src + v may point outside the row.
        // Full pieces (the common case) use plain loads and stores: masked ones cost more on some cores.
        const __m512 piece = load == 0xFFFF ? _mm512_loadu_ps(src + v) : _mm512_maskz_loadu_ps(load, src + v);
        if (store == 0xFFFF) _mm512_storeu_ps(o + v, piece);
        else _mm512_mask_storeu_ps(o + v, store, piece);
      }
    }
    if (++j == kernel_w) {
      j = 0;
      if (++i == kernel_h) {
        i = 0;
        ++c;
      }
    }
  }
}

}  // namespace cpu
}  // namespace flexconv
