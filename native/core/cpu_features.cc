#include "core/cpu_features.h"

#include <atomic>
#include <cstdlib>

namespace flexconv {
namespace {

Isa detect() {
#ifdef FLEXCONV_X86_KERNELS
  __builtin_cpu_init();
  // __builtin_cpu_supports also checks that the OS saves the wide registers (XSAVE state).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl")) {
    return Isa::Avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Portable;
}

Isa initial_cap() {
  Isa cap = Isa::Avx512;
  if (const char* env = std::getenv("FLEXCONV_ISA")) parse_isa(env, &cap);
  return cap;
}

std::atomic<int> g_cap{static_cast<int>(initial_cap())};

}  // namespace

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() {
  int cap = g_cap.load(std::memory_order_relaxed);
  int det = static_cast<int>(detected_isa());
  return static_cast<Isa>(cap < det ? cap : det);
}

void set_isa_cap(Isa cap) { g_cap.store(static_cast<int>(cap)); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512:
      return "avx512";
    case Isa::Avx2:
      return "avx2";
    case Isa::Portable:
      return "portable";
  }
  return "portable";
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "avx512")
    *out = Isa::Avx512;
  else if (name == "avx2")
    *out = Isa::Avx2;
  else if (name == "portable")
    *out = Isa::Portable;
  else
    return false;
  return true;
}

}  // namespace flexconv
