// The CPU side of ops/elementwise.h, and the grain below which CPU loops stay on the calling
// thread.
#pragma once
#include <cstdint>

#include "ops/elementwise.h"

namespace flexconv {
namespace cpu {

// Below this many elements a loop runs on the calling thread: waking the pool costs more
// than the work.
constexpr std::int64_t kParallelGrain = 1 << 15;

}  // namespace cpu
}  // namespace flexconv
