// CPU tensor storage: 64-byte aligned native memory handed to JS as a Float32Array without
// copying. Freed either by GC (the ArrayBuffer's finalizer) or at once by release(), which
// also detaches the ArrayBuffer so JS can never touch freed memory. Finalizers run later
// than release() (on a later turn of the event loop), so each block has a small control
// record that says whether release() already freed it.
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "binding/args.h"
#include "binding/registry.h"
#include "core/alloc.h"

namespace {

struct Control {
  void* data;
  std::int64_t bytes;
  bool freed;
};

std::mutex g_mutex;
std::unordered_map<void*, Control*>& live_blocks() {
  static auto* blocks = new std::unordered_map<void*, Control*>();
  return *blocks;
}

// V8 does not see external memory by itself; telling it keeps GC pressure honest when
// tensors are left to the garbage collector instead of being disposed.
void adjust_external(napi_env env, std::int64_t bytes) {
  int64_t ignored;
  napi_adjust_external_memory(env, bytes, &ignored);
}

void finalize(napi_env env, void*, void* hint) {
  auto* control = static_cast<Control*>(hint);
  bool freed_here = false;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!control->freed) {
      live_blocks().erase(control->data);
      flexconv::aligned_free(control->data);
      freed_here = true;
    }
  }
  if (freed_here) adjust_external(env, -control->bytes);
  delete control;
}

}  // namespace

using flexconv::binding::Args;

// allocate(floats, zero) -> Float32Array over fresh aligned native memory.
FLEXCONV_EXPORT(allocate) {
  Args args(info, "allocate");
  std::int64_t floats = args.integer(0, "size");
  bool zero = args.boolean(1, "zero");
  if (floats < 0 || floats > (std::int64_t(1) << 40)) {
    args.fail("expected size to be an integer in [0, 2^40] but received " + std::to_string(floats));
  }
  size_t bytes = static_cast<size_t>(floats) * sizeof(float);
  void* data = flexconv::aligned_malloc(bytes == 0 ? 1 : bytes);
  if (zero && bytes) std::memset(data, 0, bytes);
  auto* control = new Control{data, static_cast<std::int64_t>(bytes), false};
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    live_blocks()[data] = control;
  }
  adjust_external(info.Env(), static_cast<std::int64_t>(bytes));
  napi_value buffer;
  napi_status status = napi_create_external_arraybuffer(info.Env(), data, bytes, finalize, control, &buffer);
  if (status != napi_ok) {
    finalize(info.Env(), data, control);
    throw Napi::Error::New(info.Env(), "allocate: could not create an external ArrayBuffer");
  }
  return Napi::Float32Array::New(info.Env(), static_cast<size_t>(floats),
                                 Napi::ArrayBuffer(info.Env(), buffer), 0);
}

// release(Float32Array): frees the memory now if it came from allocate(); no-op otherwise.
FLEXCONV_EXPORT(release) {
  Args args(info, "release");
  Napi::Float32Array array = args.float_array(0, "array");
  Napi::ArrayBuffer buffer = array.ArrayBuffer();
  void* data = buffer.Data();
  bool ours = false;
  std::int64_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = live_blocks().find(data);
    if (it != live_blocks().end() && array.ByteOffset() == 0) {
      ours = true;
      bytes = it->second->bytes;
      it->second->freed = true;
      live_blocks().erase(it);
    }
  }
  if (ours) {
    // Detach first so no JS view can reach the memory, then free it.
    buffer.Detach();
    flexconv::aligned_free(data);
    adjust_external(info.Env(), -bytes);
  }
  return Napi::Boolean::New(info.Env(), ours);
}

// memoryStats() -> { allocated, peak } in bytes of native host memory.
FLEXCONV_EXPORT(memoryStats) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("allocated", static_cast<double>(flexconv::allocated_bytes()));
  out.Set("peak", static_cast<double>(flexconv::peak_allocated_bytes()));
  return out;
}

FLEXCONV_EXPORT(resetPeakMemory) {
  flexconv::reset_peak_allocated_bytes();
  return info.Env().Undefined();
}
