// Per-context state of the addon. The main thread and each worker_thread load the addon into
// a context of their own, and JavaScript values (classes, strings) belong to one context, so
// what native code keeps of them lives in the env's instance data, not in globals.
#pragma once
#include <napi.h>

#include <map>
#include <string>
#include <unordered_map>

namespace flexconv {
namespace binding {

struct EnvState {
  // lib/errors.ts's classes by error code (setErrorClasses).
  std::map<std::string, Napi::FunctionReference> error_classes;
  // Property names read on every call ("shape", "buffer", "stride", ...) made into JavaScript
  // strings once: napi_get_named_property makes and looks up a new string each time, a tenth
  // of the cost of a small call. The strings are the elements of one array (N-API 8 references
  // objects only), found by the address of their literal.
  Napi::ObjectReference key_strings;
  std::unordered_map<const char*, uint32_t> key_index;
};

// Called from addon init: the context's state.
void init_env_state(Napi::Env env);
// Null only before init (never in a registered function).
EnvState* env_state(Napi::Env env);

// The JavaScript string of the string literal `key`, made once per context.
napi_value property_key(Napi::Env env, const char* key);

}  // namespace binding
}  // namespace flexconv
