// The two copy patterns every plain-matrix packer reduces to, with a portable and an AVX2
// version (the AVX2 one also serves AVX-512 CPUs: packing is bandwidth-bound, and 8-wide
// transposes are the natural unit for panels of 8 or 48). Implicit-GEMM packers of other
// ops may call these too.
#pragma once
#include <cstdint>

namespace flexconv {
namespace gemm {

// Panel of `width` floats per k from a matrix whose panel elements are strided rows:
//   dst[k * width + j] = src[j * ld + k]   for j < rows, k < kc;   0 for rows <= j < width.
// (A not transposed, or B transposed: the panel index runs across rows of the source.)
void pack_panel_transposed(const float* src, int64_t ld, int rows, int width, int64_t kc, float* dst);

// Panel of `width` floats per k from contiguous source rows:
//   dst[k * width + j] = src[k * ld + j]   for j < cols, k < kc;   0 for cols <= j < width.
void pack_panel_rows(const float* src, int64_t ld, int cols, int width, int64_t kc, float* dst);

namespace detail {
void pack_panel_transposed_portable(const float* src, int64_t ld, int rows, int width, int64_t kc, float* dst);
void pack_panel_transposed_avx2(const float* src, int64_t ld, int rows, int width, int64_t kc, float* dst);
}  // namespace detail

}  // namespace gemm
}  // namespace flexconv
