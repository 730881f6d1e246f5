// Pooling geometry shared by the CPU and CUDA pooling kernels: output sizes with PyTorch's
// ceil_mode rule, the average-pool divisor and the adaptive-pool window bounds.
#pragma once
#include <cstdint>

#include "math/hd.h"

namespace flexconv {
namespace math {

// PyTorch's pooling_output_shape: floor (or ceil) of (in + 2p - d(k-1) - 1) / s, plus one; in
// ceil mode the last window must start inside the input or the left padding, never only in
// the right padding.
FLEXCONV_HD std::int64_t pool_out_size(std::int64_t in, std::int64_t kernel, std::int64_t stride, std::int64_t pad,
                                       std::int64_t dilation, bool ceil_mode) {
  const std::int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // Floor division that rounds towards minus infinity (span can be negative).
  std::int64_t out = (span >= 0 ? span / stride : -((-span + stride - 1) / stride)) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// The window of an average pool along one axis: [start, end) clipped to the input, and the
// divisor PyTorch uses (the padded window size, or only the part inside the input).
struct AvgWindow {
  std::int64_t start, end, divisor;
};

FLEXCONV_HD AvgWindow avg_window(std::int64_t o, std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                 std::int64_t pad, bool count_include_pad) {
  std::int64_t start = o * stride - pad;
  std::int64_t end = start + kernel;
  if (end > in + pad) end = in + pad;
  const std::int64_t padded = end - start;
  if (start < 0) start = 0;
  if (end > in) end = in;
  return AvgWindow{start, end, count_include_pad ? padded : end - start};
}

// Adaptive pooling: output cell o of `out` covers [floor(o*in/out), ceil((o+1)*in/out)).
FLEXCONV_HD std::int64_t adaptive_start(std::int64_t o, std::int64_t out, std::int64_t in) { return (o * in) / out; }
FLEXCONV_HD std::int64_t adaptive_end(std::int64_t o, std::int64_t out, std::int64_t in) {
  return ((o + 1) * in + out - 1) / out;
}

}  // namespace math
}  // namespace flexconv
