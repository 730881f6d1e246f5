// The innermost loop of the deformable kernels: bilinear samples of one channel plane for a
// run of output pixels, through a structure-of-arrays sampling plan against a zero-padded
// plane (math/bilinear.h, bilinear_padded_plan), written into GEMM B panels. AVX2 + FMA code
// (also on AVX-512 CPUs: it beats gathers there) picked at run time, portable C++ otherwise.
#pragma once
#include <cstdint>

namespace flexconv {
namespace cpu {

struct SampleRow {
  const float* plane;  // padded plane, (H+2) x (W+2)
  std::int64_t padded_w;
  const std::int32_t* index;  // per pixel, padded index of the top-left corner
  // Per pixel corner weights (mask folded in), interleaved in pairs as the corners lie in
  // memory: w01[2q] = (y0,x0), w01[2q+1] = (y0,x1); w23[2q] = (y1,x0), w23[2q+1] = (y1,x1).
  const float* w01;
  const float* w23;
};

// Every path sums a sample as (w0*v00 + w2*v10) + (w1*v01 + w3*v11), the vector order.

// Sample j (j < n) goes to dst[(j / nr) * panel_stride + j % nr]; the rest of the last panel
// (up to nr) is written as 0.
void sample_row_panels(const SampleRow& r, std::int64_t n, int nr, std::int64_t panel_stride, float* dst);

// A whole B block: row kk of the block samples through rows[kk]; pixels [0, n) go to
// panels of nr columns, panel p at dst + p * kc * nr, row kk of a panel at kk * nr (the GEMM
// driver's packed-B layout). Filled panel by panel, so the writes stream through one panel
// (kc * nr floats) at a time instead of striding across all of them.
void sample_block(const SampleRow* rows, std::int64_t kc, std::int64_t n, int nr, float* dst);
void sample_block_avx2(const SampleRow* rows, std::int64_t kc, std::int64_t n, int nr, float* dst);

void sample_row_panels_portable(const SampleRow& r, std::int64_t n, int nr, std::int64_t panel_stride, float* dst);
void sample_row_panels_avx2(const SampleRow& r, std::int64_t n, int nr, std::int64_t panel_stride, float* dst);

}  // namespace cpu
}  // namespace flexconv
