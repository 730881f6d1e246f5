// CUDA shape-op copies behind the same interface as cpu/shape.h (device pointers).
#pragma once
#include <cstdint>
#include <vector>

namespace flexconv {
namespace cuda {

void copy_rows(const float* src, std::int64_t src_offset, std::int64_t src_stride, float* dst,
               std::int64_t dst_offset, std::int64_t dst_stride, std::int64_t rows, std::int64_t cols,
               bool accumulate);
void permute(const float* x, const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& dims,
             float* out);

}  // namespace cuda
}  // namespace flexconv
