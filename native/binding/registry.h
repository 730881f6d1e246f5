// Every binding file registers its functions here with FLEXCONV_EXPORT, so adding an op
// never means editing a central list. Each registered function is wrapped so that a
// flexconv::Error (or any C++ exception) becomes a typed JavaScript error, never a crash.
#pragma once
#include <napi.h>

namespace flexconv {
namespace binding {

using BindingFn = Napi::Value (*)(const Napi::CallbackInfo&);

struct Registration {
  Registration(const char* name, BindingFn fn);
};

// Adds every registered function to `exports`.
void export_all(Napi::Env env, Napi::Object exports);

// Converts the exception in flight into a pending JS exception of the right class.
void throw_as_js(Napi::Env env);

template <BindingFn Fn>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (const Napi::Error&) {
    throw;  // already a JS error
  } catch (...) {
    throw_as_js(info.Env());
    return info.Env().Undefined();
  }
}

}  // namespace binding
}  // namespace flexconv

// Defines and registers a binding function `name`, visible in JS as native.name.
#define FLEXCONV_EXPORT(name)                                                                                        \
  static Napi::Value name(const Napi::CallbackInfo& info);                                                           \
  static ::flexconv::binding::Registration flexconv_registration_##name(#name, &::flexconv::binding::guarded<name>); \
  static Napi::Value name(const Napi::CallbackInfo& info)
