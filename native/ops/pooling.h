// 2-D max, average and adaptive average pooling over NCHW planes: the contract both backends
// implement (cpu/pooling.cc, cuda/pooling.cu).
#pragma once
#include <cstdint>

namespace flexconv {

struct PoolShape {
  std::int64_t planes;        // N * C
  std::int64_t in_h, in_w;    // input plane
  std::int64_t out_h, out_w;  // output plane
  std::int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
};

// max_pool2d_forward: indices receives, per output, the flat index (h * in_w + w) within its
// input plane of the maximum, as int32 (stored in a float32 buffer's bits). NaN wins, like
// PyTorch. indices may be null (inference: values only).
// max_pool2d_backward: grad_x = 0 everywhere except the argmax positions, which receive the
// output gradients.
// adaptive_*: only planes, in_h/in_w and out_h/out_w of the shape are used.
#define FLEXCONV_POOLING_ENTRY_POINTS                                                                        \
  void max_pool2d_forward(const PoolShape& s, const float* x, float* y, std::int32_t* indices);              \
  void max_pool2d_backward(const PoolShape& s, const float* dy, const std::int32_t* indices, float* grad_x); \
  void avg_pool2d_forward(const PoolShape& s, const float* x, float* y, bool count_include_pad);             \
  void avg_pool2d_backward(const PoolShape& s, const float* dy, float* grad_x, bool count_include_pad);      \
  void adaptive_avg_pool2d_forward(const PoolShape& s, const float* x, float* y);                            \
  void adaptive_avg_pool2d_backward(const PoolShape& s, const float* dy, float* grad_x);

namespace cpu {
FLEXCONV_POOLING_ENTRY_POINTS
}  // namespace cpu
namespace cuda {
FLEXCONV_POOLING_ENTRY_POINTS
}  // namespace cuda
#undef FLEXCONV_POOLING_ENTRY_POINTS

}  // namespace flexconv
