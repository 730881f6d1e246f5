// Shape-op copies. Rows (blocks of output, where a permute transposes) are handed to threads whole,
// so no two threads write one element.
#include "ops/shape.h"

#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"
#include "cpu/elementwise.h"
#include "cpu/transpose.h"

namespace flexconv {
namespace cpu {
namespace {

// A tiled permute's task: a block of up to kTileSide x kTileSide output elements (16 KB read and
// 16 KB written, within L1).
constexpr std::int64_t kTileSide = 64;
// Below this many rows or columns a transpose block is all ragged edge; the row loop serves.
constexpr std::int64_t kMinTransposeSide = 8;

// A permute that takes the input's contiguous dimension away from the output's last one
// (NCHW -> NHWC and back) is a batch of 2-D transposes between output dimension `kc` (the one
// that walks the input's last dimension, stride 1 there) and the output's last dimension (its
// elements `inner_step` apart in the input). The row loop in permute() would read every element
// by its own strided load; here 8 x 8 blocks go through registers (cpu/transpose_isa.cc). Tasks
// are (index over the other dimensions, block of rows, block of columns), each writing its own
// output elements.
void permute_as_transposes(const float* x, const std::vector<std::int64_t>& out_shape,
                           const std::vector<std::int64_t>& step, int kc, float* out) {
  const int nd = static_cast<int>(out_shape.size());
  std::vector<std::int64_t> out_stride(nd, 1);
  for (int k = nd - 2; k >= 0; --k) out_stride[k] = out_stride[k + 1] * out_shape[k + 1];
  const std::int64_t rows = out_shape[nd - 1], row_step = step[nd - 1];
  const std::int64_t cols = out_shape[kc], col_stride = out_stride[kc];
  std::int64_t batch = 1;
  for (int k = 0; k < nd - 1; ++k) batch *= k == kc ? 1 : out_shape[k];
  const std::int64_t row_blocks = (rows + kTileSide - 1) / kTileSide;
  const std::int64_t col_blocks = (cols + kTileSide - 1) / kTileSide;
  const auto transpose = FLEXCONV_PICK_ISA(transpose_block);
  parallel_for(
      batch * row_blocks * col_blocks,
      [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t t = begin; t < end; ++t) {
          const std::int64_t cb = t % col_blocks, rb = t / col_blocks % row_blocks;
          std::int64_t rest = t / col_blocks / row_blocks, in_off = 0, out_off = 0;
          for (int k = nd - 2; k >= 0; --k) {
            if (k == kc) continue;
            const std::int64_t index = rest % out_shape[k];
            rest /= out_shape[k];
            in_off += index * step[k];
            out_off += index * out_stride[k];
          }
          const std::int64_t r0 = rb * kTileSide, c0 = cb * kTileSide;
          transpose(x + in_off + r0 * row_step + c0, row_step, out + out_off + c0 * col_stride + r0, col_stride,
                    std::min(kTileSide, rows - r0), std::min(kTileSide, cols - c0));
        }
      },
      std::max<std::int64_t>(1, kParallelGrain / (kTileSide * kTileSide)));
}

}  // namespace

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
  const int kc = static_cast<int>(std::find(dims.begin(), dims.end(), nd - 1) - dims.begin());
  if (kc != nd - 1 && inner >= kMinTransposeSide && out_shape[kc] >= kMinTransposeSide) {
    permute_as_transposes(x, out_shape, step, kc, out);
    return;
  }
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
