// The addon's entry point. Context-aware (NAPI_MODULE_INIT via Napi::Addon-free init), so it
// loads in the main thread and in worker_threads alike; per-context state lives in the
// env's instance data.
#include <napi.h>

#include "binding/env_state.h"
#include "binding/registry.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  flexconv::binding::init_env_state(env);
  flexconv::binding::export_all(env, exports);
  return exports;
}

NODE_API_MODULE(flexconv, Init)
