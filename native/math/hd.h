// FLEXCONV_HD marks math that both the CPU kernels and the CUDA kernels compile: one copy of
// each formula, so the CPU tests exercise the exact arithmetic the GPU runs.
#pragma once

#ifdef __CUDACC__
#define FLEXCONV_HD __host__ __device__ __forceinline__
#else
#define FLEXCONV_HD inline
#endif
