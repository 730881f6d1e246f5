#include "binding/errors.h"

#include <map>
#include <string>

#include "binding/registry.h"

namespace flexconv {
namespace binding {
namespace {

struct ErrorClasses {
  std::map<std::string, Napi::FunctionReference> by_code;
};

}  // namespace

void init_error_classes(Napi::Env env) { env.SetInstanceData<ErrorClasses>(new ErrorClasses()); }

void throw_typed(Napi::Env env, ErrorCode code, const std::string& message) {
  const char* name = error_code_name(code);
  auto* classes = env.GetInstanceData<ErrorClasses>();
  Napi::Object error;
  if (classes != nullptr && classes->by_code.count(name)) {
    error = classes->by_code[name].New({Napi::String::New(env, message)});
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
  auto* classes = env.GetInstanceData<flexconv::binding::ErrorClasses>();
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "setErrorClasses expects an object of error classes");
  }
  Napi::Object map = info[0].As<Napi::Object>();
  Napi::Array keys = map.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string key = keys.Get(i).As<Napi::String>();
    Napi::Value value = map.Get(key);
    if (!value.IsFunction()) throw Napi::TypeError::New(env, "error class " + key + " is not a function");
    classes->by_code[key] = Napi::Persistent(value.As<Napi::Function>());
  }
  return env.Undefined();
}
