// FLEXCONV_HD marks math that both the CPU kernels and the CUDA kernels compile: one copy of
// each formula, so the CPU tests exercise the exact arithmetic the GPU runs.
#pragma once

// On the host these are always inlined: the same header is also compiled into the
// per-instruction-set copies of every *_isa.cc (core/isa.h), and an
// out-of-line copy of an `inline` function is one symbol that the linker may take from an
// AVX-512 file for the whole addon, crashing CPUs without it.
#ifdef __CUDACC__
#define FLEXCONV_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define FLEXCONV_HD inline __attribute__((always_inline))
#else
#define FLEXCONV_HD inline
#endif
