// The geometry contract of conv2d, shared by the CPU and CUDA paths and by every conv-like op
// (conv_transpose2d, dynamic convolution): checked before any kernel divides by these values.
#include "ops/conv2d.h"

#include <string>

#include "core/errors.h"

namespace flexconv {

using math::Conv2dGeometry;

void conv2d_check_geometry(const Conv2dGeometry& g) {
  auto fail = [](const std::string& m) { throw Error(ErrorCode::InvalidArgument, "conv2d: " + m); };
  if (g.stride_h < 1 || g.stride_w < 1) fail("stride must be positive");
  if (g.dil_h < 1 || g.dil_w < 1) fail("dilation must be positive");
  if (g.pad_h < 0 || g.pad_w < 0) fail("padding must be non-negative");
  if (g.groups < 1) fail("groups must be positive");
  if (g.kernel_h < 1 || g.kernel_w < 1) fail("kernel size must be positive");
  if (g.in_channels % g.groups != 0 || g.out_channels % g.groups != 0) {
    throw Error(ErrorCode::ShapeMismatch, "conv2d: groups (" + std::to_string(g.groups) +
                                              ") must divide in_channels (" + std::to_string(g.in_channels) +
                                              ") and out_channels (" + std::to_string(g.out_channels) + ")");
  }
  const std::int64_t oh = math::conv_out_size(g.in_h, g.kernel_h, g.stride_h, g.pad_h, g.dil_h);
  const std::int64_t ow = math::conv_out_size(g.in_w, g.kernel_w, g.stride_w, g.pad_w, g.dil_w);
  if (oh < 1 || ow < 1) {
    throw Error(ErrorCode::ShapeMismatch, "conv2d: the (dilated) kernel is larger than the padded input");
  }
  // The output may be smaller than the full one (never larger): conv_transpose2d with
  // output_padding >= stride maps to a conv whose last rows are never computed.
  if (g.out_h < 1 || g.out_w < 1 || g.out_h > oh || g.out_w > ow) {
    throw Error(ErrorCode::ShapeMismatch, "conv2d: expected an output of " + std::to_string(oh) + "x" +
                                              std::to_string(ow) + " pixels but received " + std::to_string(g.out_h) +
                                              "x" + std::to_string(g.out_w));
  }
}

}  // namespace flexconv
