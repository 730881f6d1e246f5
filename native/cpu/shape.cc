// Shape-op copies. Rows are handed to threads whole, so no two threads write one element.
#include "ops/shape.h"

#include <cstring>

#include "core/thread_pool.h"
#include "cpu/elementwise.h"

namespace flexconv {
namespace cpu {

void copy_rows(const float* src, std::int64_t src_offset, std::int64_t src_stride, float* dst, std::int64_t dst_offset,
               std::int64_t dst_stride, std::int64_t rows, std::int64_t cols, bool accumulate) {
  if (rows <= 0 || cols <= 0) return;
  const std::int64_t grain = cols >= kParallelGrain ? 1 : kParallelGrain / cols;
  parallel_for(
      rows,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) {
          const float* s = src + src_offset + r * src_stride;
          float* d = dst + dst_offset + r * dst_stride;
          if (accumulate) {
            for (std::int64_t j = 0; j < cols; ++j) d[j] += s[j];
          } else {
            std::memcpy(d, s, static_cast<std::size_t>(cols) * sizeof(float));
          }
        }
      },
      grain);
}

void permute(const float* x, const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& dims,
             float* out) {
  const int nd = static_cast<int>(shape.size());
  std::vector<std::int64_t> in_stride(nd, 1);
  for (int d = nd - 2; d >= 0; --d) in_stride[d] = in_stride[d + 1] * shape[d + 1];
  // Output dimension k walks input dimension dims[k].
  std::vector<std::int64_t> out_shape(nd), step(nd);
  std::int64_t numel = 1;
  for (int k = 0; k < nd; ++k) {
    out_shape[k] = shape[dims[k]];
    step[k] = in_stride[dims[k]];
    numel *= out_shape[k];
  }
  if (numel == 0) return;
  if (nd == 0) {
    out[0] = x[0];
    return;
  }
  const std::int64_t inner = out_shape[nd - 1], inner_step = step[nd - 1];
  const std::int64_t rows = numel / inner;
  const std::int64_t grain = inner >= kParallelGrain ? 1 : kParallelGrain / inner;
  parallel_for(
      rows,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) {
          std::int64_t rest = r, off = 0;
          for (int k = nd - 2; k >= 0; --k) {
            off += (rest % out_shape[k]) * step[k];
            rest /= out_shape[k];
          }
          const float* s = x + off;
          float* d = out + r * inner;
          for (std::int64_t j = 0; j < inner; ++j) d[j] = s[j * inner_step];
        }
      },
      grain);
}

}  // namespace cpu
}  // namespace flexconv
