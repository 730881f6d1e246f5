// The (stride, padding, dilation, groups) options every conv-like binding receives, read
// into a Conv2dGeometry in one place. Range checks stay with the kernels
// (conv2d_check_geometry), which run before any division by these values.
#pragma once
#include <cstddef>

#include "binding/args.h"
#include "math/conv_geometry.h"

namespace flexconv {
namespace binding {

// stride, padding and dilation as [h, w] pairs at args[at], args[at+1], args[at+2]; groups,
// a positive integer, at args[at+3].
void read_conv_options(const Args& args, std::size_t at, math::Conv2dGeometry& g);

}  // namespace binding
}  // namespace flexconv
