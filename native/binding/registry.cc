#include "binding/registry.h"

#include <exception>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "binding/errors.h"
#include "core/errors.h"

namespace flexconv {
namespace binding {
namespace {

std::vector<std::pair<const char*, BindingFn>>& registry() {
  static std::vector<std::pair<const char*, BindingFn>> entries;
  return entries;
}

}  // namespace

Registration::Registration(const char* name, BindingFn fn) { registry().emplace_back(name, fn); }

void export_all(Napi::Env env, Napi::Object exports) {
  for (const auto& [name, fn] : registry()) exports.Set(name, Napi::Function::New(env, fn, name));
}

void throw_as_js(Napi::Env env) {
  try {
    throw;
  } catch (const Error& e) {
    throw_typed(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw_typed(env, ErrorCode::OutOfMemory, "Out of host memory");
  } catch (const std::exception& e) {
    throw_typed(env, ErrorCode::Internal, std::string("Internal error: ") + e.what());
  } catch (...) {
    throw_typed(env, ErrorCode::Internal, "Internal error: unknown C++ exception");
  }
}

}  // namespace binding
}  // namespace flexconv
