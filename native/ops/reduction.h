// Sums over any set of dimensions of a contiguous float32 tensor (sum, mean, the gradient of
// broadcasting), and argmax along one dimension: the contract both backends implement
// (cpu/reduction.cc, cuda/reduction.cu).
#pragma once
#include <cstdint>
#include <vector>

namespace flexconv {

// sum_dims: out = scale * sum of x over the dimensions with reduce[d] true. `out` holds the kept
// dimensions in order (numel = product of kept sizes). Deterministic at any thread count: every
// output is summed in a fixed order (on the CPU, partial sums are combined in double).
// argmax: x viewed as [outer, n, inner]: out[o, i] = argmax over k of x[o, k, i] (first maximum;
// NaN counts as the maximum, as in PyTorch), stored as float.
#define FLEXCONV_REDUCTION_ENTRY_POINTS                                                                               \
  void sum_dims(const float* x, const std::vector<std::int64_t>& shape, const std::vector<bool>& reduce, float scale, \
                float* out);                                                                                          \
  void argmax(const float* x, std::int64_t outer, std::int64_t n, std::int64_t inner, float* out);

namespace cpu {
FLEXCONV_REDUCTION_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_REDUCTION_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_REDUCTION_ENTRY_POINTS

}  // namespace flexconv
