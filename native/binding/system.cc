// Thread count, instruction-set selection and build facts.
#include <string>

#include "binding/args.h"
#include "binding/cuda_memory.h"
#include "binding/registry.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace flexconv {
namespace binding {

FLEXCONV_EXPORT(getNumThreads) { return Napi::Number::New(info.Env(), flexconv::num_threads()); }

FLEXCONV_EXPORT(setNumThreads) {
  Args args(info, "setNumThreads");
  std::int64_t n = args.integer(0, "numThreads");
  if (n < 1 || n > 1024)
    args.fail("expected numThreads to be an integer in [1, 1024] but received " + std::to_string(n));
  flexconv::set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

// isa() -> { detected, active }
FLEXCONV_EXPORT(isa) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("detected", flexconv::isa_name(flexconv::detected_isa()));
  out.Set("active", flexconv::isa_name(flexconv::active_isa()));
  return out;
}

// setIsa('avx512' | 'avx2' | 'portable'): caps the kernels used; an ISA the CPU lacks is an error.
FLEXCONV_EXPORT(setIsa) {
  Args args(info, "setIsa");
  std::string name = args.string(0, "isa");
  flexconv::Isa isa;
  if (!flexconv::parse_isa(name, &isa)) {
    args.fail("expected isa to be one of 'avx512', 'avx2', 'portable' but received \"" + name + "\"");
  }
  // Capping above what the CPU has would silently run a lower path (and make cross-ISA tests
  // compare a path with itself): refuse it.
  if (static_cast<int>(isa) > static_cast<int>(flexconv::detected_isa())) {
    args.fail("expected isa to be one this CPU supports (up to '" +
              std::string(flexconv::isa_name(flexconv::detected_isa())) + "') but received \"" + name + "\"");
  }
  flexconv::set_isa_cap(isa);
  return info.Env().Undefined();
}

FLEXCONV_EXPORT(buildInfo) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("cuda", cuda_compiled());
#ifdef NDEBUG
  out.Set("debug", false);
#else
  out.Set("debug", true);
#endif
  return out;
}

}  // namespace binding
}  // namespace flexconv
