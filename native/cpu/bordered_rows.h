// A row of a zero-bordered copy of an input plane, as the direct convolution kernels read them
// (cpu/conv2d_direct.h, cpu/conv2d_depthwise.h): `left` zeros, the input row, zeros to the end.
#pragma once
#include <algorithm>
#include <cstdint>

namespace flexconv {
namespace cpu {

// line[0, length) = `left` zeros, src[0, width) (cut at length), zeros; all zeros when src is
// null (a row of the border above or below the image).
inline void bordered_row(const float* src, std::int64_t width, std::int64_t left, std::int64_t length, float* line) {
  if (!src) {
    std::fill(line, line + length, 0.0f);
    return;
  }
  const std::int64_t lead = std::min(left, length), copied = std::max<std::int64_t>(0, std::min(width, length - lead));
  std::fill(line, line + lead, 0.0f);
  std::copy(src, src + copied, line + lead);
  std::fill(line + lead + copied, line + length, 0.0f);
}

}  // namespace cpu
}  // namespace flexconv
