// Typed JS errors thrown from C++. The classes are defined in lib/errors.ts and handed to
// the addon once at load (setErrorClasses), per context (binding/env_state.h), so worker_threads
// get their own.
#pragma once
#include <napi.h>

#include <string>

#include "core/errors.h"

namespace flexconv {
namespace binding {

// Throws (as a C++ Napi::Error) an instance of the JS class registered for `code`, with
// err.code set. Falls back to a plain Error with .code if no classes were registered.
[[noreturn]] void throw_typed(Napi::Env env, ErrorCode code, const std::string& message);

}  // namespace binding
}  // namespace flexconv
