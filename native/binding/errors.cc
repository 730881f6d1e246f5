#include "binding/errors.h"

#include <string>

#include "binding/env_state.h"
#include "binding/registry.h"

namespace flexconv {
namespace binding {

void throw_typed(Napi::Env env, ErrorCode code, const std::string& message) {
  const char* name = error_code_name(code);
  EnvState* state = env_state(env);
  Napi::Object error;
  if (state != nullptr && state->error_classes.count(name)) {
    error = state->error_classes[name].New({Napi::String::New(env, message)});
  } else {
    error = Napi::Error::New(env, message).Value();
  }
  error.Set("code", Napi::String::New(env, name));
  throw Napi::Error(env, error);
}

}  // namespace binding
}  // namespace flexconv

// setErrorClasses({ ERR_INVALID_ARGUMENT: ArgumentError, ... })
FLEXCONV_EXPORT(setErrorClasses) {
  Napi::Env env = info.Env();
  flexconv::binding::EnvState* state = flexconv::binding::env_state(env);
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "setErrorClasses expects an object of error classes");
  }
  Napi::Object map = info[0].As<Napi::Object>();
  Napi::Array keys = map.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string key = keys.Get(i).As<Napi::String>();
    Napi::Value value = map.Get(key);
    if (!value.IsFunction()) throw Napi::TypeError::New(env, "error class " + key + " is not a function");
    state->error_classes[key] = Napi::Persistent(value.As<Napi::Function>());
  }
  return env.Undefined();
}
