#include "binding/env_state.h"

namespace flexconv {
namespace binding {

void init_env_state(Napi::Env env) {
  auto* state = new EnvState();
  state->key_strings = Napi::Persistent(Napi::Array::New(env).As<Napi::Object>());
  env.SetInstanceData<EnvState>(state);
}

EnvState* env_state(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

napi_value property_key(Napi::Env env, const char* key) {
  EnvState* state = env_state(env);
  if (state == nullptr) return Napi::String::New(env, key);
  Napi::Object strings = state->key_strings.Value();
  auto it = state->key_index.find(key);
  if (it == state->key_index.end()) {
    it = state->key_index.emplace(key, static_cast<uint32_t>(state->key_index.size())).first;
    strings.Set(it->second, Napi::String::New(env, key));
  }
  napi_value name = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_element(env, strings, it->second, &name), nullptr);
  return name;
}

}  // namespace binding
}  // namespace flexconv
