// The handles of conv weights packed once for repeated forwards (conv2dPackWeights,
// deformConv2dPackWeights): Napi::Externals owning a PackedConvWeights, tagged so that no other
// External a caller passes is ever read as one.
#pragma once
#include <cstddef>
#include <memory>

#include "binding/args.h"
#include "cpu/conv2d.h"

namespace flexconv {
namespace binding {

// weight [O, C/groups, kh, kw] checked (4-D, on the CPU, groups dividing O); fills groups.
TensorView packable_weight(Args& args, std::int64_t& groups);

Napi::Value wrap_packed_weights(Napi::Env env, std::unique_ptr<PackedConvWeights> packed);

// Argument `index` as a packed-weights handle, or null when it is absent, null or undefined;
// anything else fails, naming `maker` (the export that makes the handles it expects).
const PackedConvWeights* optional_packed_weights(Args& args, std::size_t index, const char* maker);

}  // namespace binding
}  // namespace flexconv
