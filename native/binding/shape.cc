// Bindings of the shape ops' copies (kernels: cpu/shape.cc, cuda/shape.cu). Every block copy
// is bounds-checked here against both tensors, so no index from JS can reach past a buffer.
#include <string>

#include "binding/args.h"
#include "binding/pointwise_dispatch.h"
#include "binding/registry.h"
#include "ops/shape.h"

namespace flexconv {
namespace binding {

namespace {
void check_block(const Args& args, const TensorView& t, const char* name, std::int64_t offset, std::int64_t stride,
                 std::int64_t rows, std::int64_t cols) {
  if (rows == 0 || cols == 0) return;
  const std::int64_t last = offset + (rows - 1) * stride + cols;  // one past the last element touched
  if (offset < 0 || stride < 0 || cols < 0 || rows < 0 || last > t.numel()) {
    args.fail(std::string("block of ") + std::to_string(rows) + "x" + std::to_string(cols) + " at offset " +
              std::to_string(offset) + " with row stride " + std::to_string(stride) + " does not fit " + name + " (" +
              std::to_string(t.numel()) + " elements)");
  }
}
}  // namespace

// copyRows(src, srcOffset, srcStride, dst, dstOffset, dstStride, rows, cols, accumulate).
FLEXCONV_EXPORT(copyRows) {
  Args args(info, "copyRows");
  TensorView src = args.tensor(0, "src");
  const std::int64_t src_offset = args.integer(1, "srcOffset"), src_stride = args.integer(2, "srcStride");
  TensorView dst = args.tensor(3, "dst");
  const std::int64_t dst_offset = args.integer(4, "dstOffset"), dst_stride = args.integer(5, "dstStride");
  const std::int64_t rows = args.integer(6, "rows"), cols = args.integer(7, "cols");
  const bool accumulate = args.boolean(8, "accumulate");
  if (rows < 0 || cols < 0) args.fail("rows and cols must be non-negative");
  check_block(args, src, "src", src_offset, src_stride, rows, cols);
  check_block(args, dst, "dst", dst_offset, dst_stride, rows, cols);
  if (use_cuda("copyRows", {&src, &dst})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::copy_rows(src.data, src_offset, src_stride, dst.data, dst_offset, dst_stride, rows, cols, accumulate);
#endif
  } else {
    cpu::copy_rows(src.data, src_offset, src_stride, dst.data, dst_offset, dst_stride, rows, cols, accumulate);
  }
  return info.Env().Undefined();
}

// permute(x, dims, out): out = x.permute(dims), contiguous.
FLEXCONV_EXPORT(permute) {
  Args args(info, "permute");
  TensorView x = args.tensor(0, "x");
  std::vector<std::int64_t> dims = args.int_list(1, "dims");
  TensorView out = args.tensor(2, "out");
  if (static_cast<int>(dims.size()) != x.ndim()) args.fail("dims must list every dimension once");
  std::vector<bool> seen(dims.size(), false);
  std::vector<std::int64_t> shape;
  for (std::int64_t d : dims) {
    if (d < 0 || d >= x.ndim() || seen[static_cast<std::size_t>(d)])
      args.fail("dims must be a permutation of 0..ndim-1");
    seen[static_cast<std::size_t>(d)] = true;
    shape.push_back(x.dim(static_cast<int>(d)));
  }
  expect_numel(out, x.numel(), "permute", "out");
  if (use_cuda("permute", {&x, &out})) {
#ifdef FLEXCONV_WITH_CUDA
    cuda::permute(x.data, x.shape, dims, out.data);
#endif
  } else {
    cpu::permute(x.data, x.shape, dims, out.data);
  }
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
