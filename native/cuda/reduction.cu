// CUDA sum over a set of dimensions: one thread per output element walks its reduced
// elements in a fixed order (deterministic; no atomics). Simple rather than fast: the
// reductions a training step needs (bias gradients, losses) are small next to the convs.
#include <cuda_runtime.h>

#include <string>

#include "core/errors.h"
#include "ops/reduction.h"
#include "cuda/launch.cuh"
#include "cuda/runtime.h"

namespace flexconv {
namespace cuda {
namespace {

constexpr int kMaxDims = 8;

struct Layout {
  int kept_ndim, red_ndim;
  std::int64_t kept_size[kMaxDims], kept_stride[kMaxDims];
  std::int64_t red_size[kMaxDims], red_stride[kMaxDims];
  std::int64_t red_count;
};

__global__ void sum_kernel(const float* x, float* out, std::int64_t outputs, Layout l, float scale) {
  FLEXCONV_GRID_STRIDE(o, outputs) {
    std::int64_t rest = o, base = 0;
    for (int d = l.kept_ndim - 1; d >= 0; --d) {
      base += (rest % l.kept_size[d]) * l.kept_stride[d];
      rest /= l.kept_size[d];
    }
    double acc = 0.0;
    for (std::int64_t r = 0; r < l.red_count; ++r) {
      std::int64_t rr = r, off = base;
      for (int d = l.red_ndim - 1; d >= 0; --d) {
        off += (rr % l.red_size[d]) * l.red_stride[d];
        rr /= l.red_size[d];
      }
      acc += x[off];
    }
    out[o] = static_cast<float>(acc * scale);
  }
}

__global__ void argmax_kernel(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) {
  const std::int64_t total = outer * inner;
  FLEXCONV_GRID_STRIDE(p, total) {
    const float* base = x + (p / inner) * n * inner + p % inner;
    std::int64_t best = 0;
    float best_value = base[0];
    for (std::int64_t k = 1; k < n && !isnan(best_value); ++k) {
      const float v = base[k * inner];
      if (v > best_value || isnan(v)) {
        best = k;
        best_value = v;
      }
    }
    out[p] = static_cast<float>(best);
  }
}

}  // namespace

void argmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out) {
  const std::int64_t total = outer * inner;
  if (total == 0) return;
  std::int64_t blocks = (total + 255) / 256;
  if (blocks > 65535 * 8) blocks = 65535 * 8;
  argmax_kernel<<<static_cast<unsigned>(blocks), 256>>>(x, outer, n, inner, out);
  check_last_launch("argmax");
}

void sum_dims(const float* x, const std::vector<std::int64_t>& shape, const std::vector<bool>& reduce, float scale,
              float* out) {
  Layout l{};
  std::int64_t stride = 1, outputs = 1;
  l.red_count = 1;
  // Walk from the innermost dimension, recording (size, stride) of kept and reduced ones.
  std::vector<std::int64_t> ks, kst, rs, rst;
  for (std::size_t i = shape.size(); i-- > 0;) {
    if (shape[i] != 1) {
      if (reduce[i]) {
        rs.insert(rs.begin(), shape[i]);
        rst.insert(rst.begin(), stride);
        l.red_count *= shape[i];
      } else {
        ks.insert(ks.begin(), shape[i]);
        kst.insert(kst.begin(), stride);
        outputs *= shape[i];
      }
    }  // size-1 dimensions change neither the output index nor the offsets
    stride *= shape[i];
  }
  if (ks.size() > static_cast<std::size_t>(kMaxDims) || rs.size() > static_cast<std::size_t>(kMaxDims)) {
    throw Error(ErrorCode::InvalidArgument, "sumDims: CUDA reductions support at most 8 dimensions");
  }
  if (stride == 0) l.red_count = 0;  // empty input: outputs are zero sums
  l.kept_ndim = static_cast<int>(ks.size());
  l.red_ndim = static_cast<int>(rs.size());
  for (int d = 0; d < l.kept_ndim; ++d) {
    l.kept_size[d] = ks[d];
    l.kept_stride[d] = kst[d];
  }
  for (int d = 0; d < l.red_ndim; ++d) {
    l.red_size[d] = rs[d];
    l.red_stride[d] = rst[d];
  }
  if (outputs == 0) return;
  std::int64_t blocks = (outputs + 255) / 256;
  if (blocks > 65535 * 8) blocks = 65535 * 8;
  sum_kernel<<<static_cast<unsigned>(blocks), 256>>>(x, out, outputs, l, scale);
  check_last_launch("sumDims");
}

}  // namespace cuda
}  // namespace flexconv
