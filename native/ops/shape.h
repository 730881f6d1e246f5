// Data movement for the shape ops: strided block copies (concat, split, slice and their
// gradients) and permute; the contract both backends implement (cpu/shape.cc, cuda/shape.cu).
#pragma once
#include <cstdint>
#include <vector>

namespace flexconv {

// copy_rows: dst[dst_offset + r * dst_stride + j] = src[src_offset + r * src_stride + j] for
// r < rows, j < cols; with accumulate, += instead of =. Bounds are the caller's job (the binding).
// permute: out = x.permute(dims) made contiguous; `shape` is x's shape.
#define FLEXCONV_SHAPE_ENTRY_POINTS                                                                           \
  void copy_rows(const float* src, std::int64_t src_offset, std::int64_t src_stride, float* dst,              \
                 std::int64_t dst_offset, std::int64_t dst_stride, std::int64_t rows, std::int64_t cols,      \
                 bool accumulate);                                                                            \
  void permute(const float* x, const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& dims, \
               float* out);

namespace cpu {
FLEXCONV_SHAPE_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_SHAPE_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_SHAPE_ENTRY_POINTS

}  // namespace flexconv
