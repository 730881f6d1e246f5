// CUDA reductions behind the same interface as cpu/reduction.h (device pointers).
#pragma once
#include <cstdint>
#include <vector>

namespace flexconv {
namespace cuda {

void sum_dims(const float* x, const std::vector<std::int64_t>& shape, const std::vector<bool>& reduce, float scale,
              float* out);
// x viewed as [outer, n, inner]: out[o, i] = index of the first maximum along n (NaN wins).
void argmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out);

}  // namespace cuda
}  // namespace flexconv
