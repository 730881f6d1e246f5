// Which vector instructions this CPU and OS support, detected once at run time so one
// binary runs everywhere and still uses AVX-512 where it can.
#pragma once
#include <string>

namespace flexconv {

enum class Isa { Portable, Avx2, Avx512 };

// Whether this build contains the AVX2 / AVX-512 copies of the *_isa.cc kernels: x86-64 builds
// do (CMake option FLEXCONV_X86_KERNELS), others (ARM) do not and detect no ISA beyond Portable.
// Dispatch sites test it with `if constexpr`, so a build without those files never refers to
// their symbols.
#ifdef FLEXCONV_X86_KERNELS
inline constexpr bool kHasX86Kernels = true;
#else
inline constexpr bool kHasX86Kernels = false;
#endif

Isa detected_isa();         // the best the machine supports
Isa active_isa();           // what kernels use: detected, or capped by FLEXCONV_ISA / set_isa_cap
void set_isa_cap(Isa cap);  // for tests: force the AVX2 or portable kernels on an AVX-512 CPU
const char* isa_name(Isa isa);
bool parse_isa(const std::string& name, Isa* out);

}  // namespace flexconv
