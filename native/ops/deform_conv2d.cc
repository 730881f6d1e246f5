// The geometry contract of deformConv2d (ops/deform_conv2d.h): the shape rules of torchvision's
// deform_conv2d, with groups and offset groups inferred from the shapes as torchvision does.
#include "ops/deform_conv2d.h"

#include <string>

#include "core/errors.h"
#include "core/tensor_view.h"

namespace flexconv {

namespace {

constexpr const char* kFn = "deformConv2d";

[[noreturn]] void shape_error(const std::string& message) {
  throw Error(ErrorCode::ShapeMismatch, std::string(kFn) + ": " + message);
}

void expect_ndim(const std::vector<std::int64_t>& shape, std::size_t ndim, const char* name) {
  if (shape.size() != ndim) {
    shape_error(std::string("expected ") + name + " to be " + std::to_string(ndim) + "-D but received shape " +
                shape_to_string(shape));
  }
}

void expect_shape(const std::vector<std::int64_t>& shape, const std::vector<std::int64_t>& expected, const char* name,
                  const char* layout) {
  if (shape != expected) {
    shape_error(std::string("expected ") + name + " of shape " + shape_to_string(expected) + " (" + layout +
                ") but received " + shape_to_string(shape));
  }
}

}  // namespace

math::DeformConv2dGeometry deform_conv2d_geometry(const DeformConv2dShapes& s, const std::int64_t (&params)[6]) {
  expect_ndim(s.input, 4, "input");
  expect_ndim(s.offset, 4, "offset");
  expect_ndim(s.weight, 4, "weight");
  if (s.mask) expect_ndim(*s.mask, 4, "mask");
  if (s.bias) expect_ndim(*s.bias, 1, "bias");
  math::DeformConv2dGeometry g{};
  g.stride_h = params[0];
  g.stride_w = params[1];
  g.pad_h = params[2];
  g.pad_w = params[3];
  g.dil_h = params[4];
  g.dil_w = params[5];
  if (g.stride_h < 1 || g.stride_w < 1 || g.dil_h < 1 || g.dil_w < 1 || g.pad_h < 0 || g.pad_w < 0) {
    throw Error(ErrorCode::InvalidArgument,
                std::string(kFn) +
                    ": expected positive stride and dilation and non-negative padding "
                    "but received params " +
                    shape_to_string({params[0], params[1], params[2], params[3], params[4], params[5]}));
  }
  const std::int64_t N = s.input[0], C = s.input[1], H = s.input[2], W = s.input[3];
  const std::int64_t O = s.weight[0], Cg = s.weight[1], kh = s.weight[2], kw = s.weight[3];
  if (O == 0 || Cg == 0 || kh == 0 || kw == 0) {
    shape_error("expected weight (out, in/groups, kh, kw) without empty dimensions but received " +
                shape_to_string(s.weight));
  }
  if (C % Cg != 0) {
    shape_error("expected input channels (" + std::to_string(C) + ") to be divisible by weight.shape[1] (" +
                std::to_string(Cg) + ", the channels per group) but input has shape " + shape_to_string(s.input) +
                " and weight " + shape_to_string(s.weight));
  }
  const std::int64_t groups = C / Cg;
  if (groups < 1 || O % groups != 0) {
    shape_error("expected weight.shape[0] (" + std::to_string(O) +
                " output channels) to be divisible by groups = " + std::to_string(groups) + " (input channels " +
                std::to_string(C) + " / weight.shape[1] " + std::to_string(Cg) + ")");
  }
  const std::int64_t eff_h = g.dil_h * (kh - 1) + 1, eff_w = g.dil_w * (kw - 1) + 1;
  if (H + 2 * g.pad_h < eff_h || W + 2 * g.pad_w < eff_w) {
    shape_error("the padded input (" + std::to_string(H + 2 * g.pad_h) + "x" + std::to_string(W + 2 * g.pad_w) +
                ") is smaller than the dilated kernel (" + std::to_string(eff_h) + "x" + std::to_string(eff_w) + ")");
  }
  const std::int64_t out_h = (H + 2 * g.pad_h - eff_h) / g.stride_h + 1;
  const std::int64_t out_w = (W + 2 * g.pad_w - eff_w) / g.stride_w + 1;
  const std::int64_t taps = kh * kw, off_c = s.offset[1];
  if (off_c == 0 || off_c % (2 * taps) != 0) {
    shape_error("expected offset to have 2*offsetGroups*kh*kw channels (a positive multiple of 2*" +
                std::to_string(kh) + "*" + std::to_string(kw) + " = " + std::to_string(2 * taps) +
                ") but received shape " + shape_to_string(s.offset));
  }
  const std::int64_t offset_groups = off_c / (2 * taps);
  if (C % offset_groups != 0) {
    shape_error("expected input channels (" + std::to_string(C) +
                ") to be divisible by offsetGroups = " + std::to_string(offset_groups) + " (offset channels " +
                std::to_string(off_c) + " / (2*" + std::to_string(kh) + "*" + std::to_string(kw) + "))");
  }
  expect_shape(s.offset, {N, off_c, out_h, out_w}, "offset", "N, 2*offsetGroups*kh*kw, outH, outW");
  if (s.mask)
    expect_shape(*s.mask, {N, offset_groups * taps, out_h, out_w}, "mask", "N, offsetGroups*kh*kw, outH, outW");
  if (s.bias) expect_shape(*s.bias, {O}, "bias", "out channels");
  // The CPU kernels index one zero-bordered (H+2) x (W+2) plane with int32.
  if (H > (1 << 24) || W > (1 << 24) || (H + 2) * (W + 2) >= (std::int64_t(1) << 31)) {
    throw Error(ErrorCode::InvalidArgument,
                std::string(kFn) + ": input planes larger than 2^31 pixels are not supported but received " +
                    shape_to_string(s.input));
  }
  g.batch = N;
  g.in_channels = C;
  g.in_h = H;
  g.in_w = W;
  g.out_channels = O;
  g.kernel_h = kh;
  g.kernel_w = kw;
  g.out_h = out_h;
  g.out_w = out_w;
  g.groups = groups;
  g.offset_groups = offset_groups;
  return g;
}

}  // namespace flexconv
