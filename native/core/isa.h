// The one idiom for instruction-set specific code: a kernel file named cpu/<name>_isa.cc is
// written once and compiled once per instruction set (CMakeLists.txt and scripts/gyp-sources.js
// generate a two-line wrapper per set: portable, and on x86-64 avx2 and avx512). Each copy
// defines its functions inside namespace FLEXCONV_ISA_NAMESPACE (isa_portable, isa_avx2,
// isa_avx512) and is compiled with that set's flags. The header that goes with it declares the
// functions once for every copy with FLEXCONV_DECLARE_PER_ISA, and callers take the copy for
// this CPU with FLEXCONV_PICK_ISA:
//
//   // cpu/foo.h
//   #define FOO_API void foo_rows(const float* x, float* y, std::int64_t n);
//   FLEXCONV_DECLARE_PER_ISA(FOO_API)
//   // cpu/foo_isa.cc
//   FLEXCONV_ISA_BEGIN
//   void foo_rows(const float* x, float* y, std::int64_t n) { ... }
//   FLEXCONV_ISA_END
//   // caller
//   FLEXCONV_PICK_ISA(foo_rows)(x, y, n);
//
// The rules of ISA-compiled files hold for *_isa.cc: no inline library code with external
// linkage (its wide copy could be kept for the whole addon), helpers in anonymous namespaces.
#pragma once
#include "core/cpu_features.h"

#define FLEXCONV_DECLARE_PER_ISA(API) \
  namespace isa_portable {            \
  API                                 \
  }                                   \
  namespace isa_avx2 {                \
  API                                 \
  }                                   \
  namespace isa_avx512 {              \
  API                                 \
  }

// The copy of `fn` (declared with FLEXCONV_DECLARE_PER_ISA in the current namespace) for the
// instruction set `isa`. Builds without the x86 kernels never name the wide copies (if
// constexpr), so they link without them.
#define FLEXCONV_ISA_COPY(isa, fn)                                  \
  ([](::flexconv::Isa which) {                                      \
    if constexpr (::flexconv::kHasX86Kernels) {                     \
      if (which == ::flexconv::Isa::Avx512) return &isa_avx512::fn; \
      if (which == ::flexconv::Isa::Avx2) return &isa_avx2::fn;     \
    }                                                               \
    return &isa_portable::fn;                                       \
  }(isa))

// The copy of `fn` for the active instruction set (detected, or capped by FLEXCONV_ISA / setIsa).
#define FLEXCONV_PICK_ISA(fn) FLEXCONV_ISA_COPY(::flexconv::active_isa(), fn)

// In a *_isa.cc file: open and close the namespace of this copy, flexconv::cpu::isa_<set>.
// Compiling such a file directly (not through its generated wrapper) is an error that says so.
#ifdef FLEXCONV_ISA_NAMESPACE
#define FLEXCONV_ISA_BEGIN \
  namespace flexconv {     \
  namespace cpu {          \
  namespace FLEXCONV_ISA_NAMESPACE {
#else
#define FLEXCONV_ISA_BEGIN                                                                   \
  static_assert(false,                                                                       \
                "a *_isa.cc file is compiled once per instruction set through the wrappers " \
                "that CMakeLists.txt generates (core/isa.h)");                               \
  namespace flexconv {                                                                       \
  namespace cpu {                                                                            \
  namespace isa_none {
#endif
#define FLEXCONV_ISA_END \
  }                      \
  }                      \
  }
