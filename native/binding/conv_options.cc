#include "binding/conv_options.h"

#include <string>
#include <vector>

namespace flexconv {
namespace binding {
namespace {

void read_pair(const Args& args, std::size_t i, const char* name, std::int64_t* h, std::int64_t* w) {
  std::vector<std::int64_t> v = args.int_list(i, name);
  if (v.size() != 2) args.fail(std::string("expected ") + name + " to hold 2 integers");
  *h = v[0];
  *w = v[1];
}

}  // namespace

void read_conv_options(const Args& args, std::size_t at, math::Conv2dGeometry& g) {
  read_pair(args, at, "stride", &g.stride_h, &g.stride_w);
  read_pair(args, at + 1, "padding", &g.pad_h, &g.pad_w);
  read_pair(args, at + 2, "dilation", &g.dil_h, &g.dil_w);
  g.groups = args.integer(at + 3, "groups");
  if (g.groups < 1) args.fail("expected groups to be a positive integer but received " + std::to_string(g.groups));
}

}  // namespace binding
}  // namespace flexconv
