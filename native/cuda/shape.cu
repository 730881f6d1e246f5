// CUDA shape-op copies: strided block copies (concat, split, slice) and permute, one thread
// per output element.
#include <cuda_runtime.h>

#include "core/errors.h"
#include "cuda/launch.cuh"
#include "cuda/runtime.h"
#include "ops/shape.h"

namespace flexconv {
namespace cuda {
namespace {

constexpr int kMaxDims = 8;

__global__ void copy_rows_kernel(const float* src, std::int64_t src_stride, float* dst, std::int64_t dst_stride,
                                 std::int64_t rows, std::int64_t cols, bool accumulate) {
  const std::int64_t n = rows * cols;
  FLEXCONV_GRID_STRIDE(i, n) {
    const std::int64_t r = i / cols, c = i % cols;
    const float v = src[r * src_stride + c];
    if (accumulate)
      dst[r * dst_stride + c] += v;
    else
      dst[r * dst_stride + c] = v;
  }
}

struct PermutePlan {
  int ndim;
  std::int64_t out_shape[kMaxDims];
  std::int64_t step[kMaxDims];
};

__global__ void permute_kernel(const float* x, float* out, std::int64_t n, PermutePlan p) {
  FLEXCONV_GRID_STRIDE(i, n) {
    std::int64_t rest = i, off = 0;
    for (int k = p.ndim - 1; k >= 0; --k) {
      off += (rest % p.out_shape[k]) * p.step[k];
      rest /= p.out_shape[k];
    }
    out[i] = x[off];
  }
}

}  // namespace

void copy_rows(const float* src, std::int64_t src_offset, std::int64_t src_stride, float* dst, std::int64_t dst_offset,
               std::int64_t dst_stride, std::int64_t rows, std::int64_t cols, bool accumulate) {
  if (rows <= 0 || cols <= 0) return;
  copy_rows_kernel<<<grid_blocks(rows * cols), kThreads>>>(src + src_offset, src_stride, dst + dst_offset, dst_stride,
                                                           rows, cols, accumulate);
  check_last_launch("copyRows");
}

void permute(const float* x, const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& dims,
             float* out) {
  const int nd = static_cast<int>(shape.size());
  if (nd > kMaxDims) throw Error(ErrorCode::InvalidArgument, "permute: CUDA supports at most 8 dimensions");
  PermutePlan p{};
  p.ndim = nd;
  std::int64_t in_stride[kMaxDims];
  std::int64_t s = 1, n = 1;
  for (int d = nd - 1; d >= 0; --d) {
    in_stride[d] = s;
    s *= shape[d];
  }
  for (int k = 0; k < nd; ++k) {
    p.out_shape[k] = shape[dims[k]];
    p.step[k] = in_stride[dims[k]];
    n *= p.out_shape[k];
  }
  if (n == 0) return;
  permute_kernel<<<grid_blocks(n), kThreads>>>(x, out, n, p);
  check_last_launch("permute");
}

}  // namespace cuda
}  // namespace flexconv
