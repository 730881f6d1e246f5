// Depthwise conv2d kernels compiled for AVX2 + FMA (8-wide rows); see conv2d_depthwise_impl.h.
#define FLEXCONV_DW_NS avx2
#include "cpu/conv2d_depthwise_impl.h"
