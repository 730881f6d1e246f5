#include "binding/conv_options.h"

#include <array>
#include <string>

namespace flexconv {
namespace binding {
namespace {

void read_pair(const Args& args, std::size_t i, const char* key, std::int64_t min, std::int64_t* h, std::int64_t* w) {
  const std::array<std::int64_t, 2> pair = args.option_pair(i, key, min);
  *h = pair[0];
  *w = pair[1];
}

}  // namespace

void read_conv_options(const Args& args, std::size_t i, math::Conv2dGeometry& g) {
  read_pair(args, i, "stride", 1, &g.stride_h, &g.stride_w);
  read_pair(args, i, "padding", 0, &g.pad_h, &g.pad_w);
  read_pair(args, i, "dilation", 1, &g.dil_h, &g.dil_w);
  g.groups = args.integer(args.option(i, "options", "groups"), "options.groups");
  if (g.groups < 1)
    args.fail("expected options.groups to be a positive integer but received " + std::to_string(g.groups));
}

void read_window_options(const Args& args, std::size_t i, std::int64_t (&params)[6]) {
  read_pair(args, i, "stride", 1, &params[0], &params[1]);
  read_pair(args, i, "padding", 0, &params[2], &params[3]);
  read_pair(args, i, "dilation", 1, &params[4], &params[5]);
}

ConvEpilogue read_epilogue(const Args& args, std::size_t i, const TensorView& out, const char* fn) {
  ConvEpilogue epilogue;
  if (args.size() > i && !args.is_nullish(i)) {
    TensorView residual = args.tensor(i, "residual");
    expect_shape(residual, out.shape, fn, "residual");
    expect_same_device(out, residual, fn, "out", "residual");
    if (residual.data == out.data) args.fail("expected residual and out to be different tensors");
    epilogue.residual = residual.data;
  }
  if (args.size() > i + 1) epilogue.relu = args.boolean(i + 1, "relu");
  return epilogue;
}

}  // namespace binding
}  // namespace flexconv
