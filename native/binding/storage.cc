// CPU tensor storage helpers. Tensor memory is a V8 ArrayBuffer (allocated in JS, freed by
// the garbage collector or at once by release()), viewed through a Float32Array that starts
// at a 64-byte aligned address. V8-owned memory needs no finalizer callbacks, so even a
// synchronous loop that creates millions of tensors keeps a flat footprint (external
// ArrayBuffers queue one callback per buffer until the event loop turns).
//
// Scratch memory inside kernels comes from core/alloc.h; memoryStats() reports it.
#include <cstdint>
#include <string>

#include "binding/args.h"
#include "binding/registry.h"
#include "core/alloc.h"

namespace flexconv {
namespace binding {

// alignmentOffset(arrayBuffer) -> bytes to skip so that the data starts 64-byte aligned.
FLEXCONV_EXPORT(alignmentOffset) {
  Napi::Value v = info[0];
  if (!v.IsArrayBuffer()) {
    Args(info, "alignmentOffset").fail("expected an ArrayBuffer but received " + describe_js_value(v));
  }
  auto address = reinterpret_cast<std::uintptr_t>(v.As<Napi::ArrayBuffer>().Data());
  std::uintptr_t mis = address % flexconv::kAlignment;
  return Napi::Number::New(info.Env(), static_cast<double>(mis == 0 ? 0 : flexconv::kAlignment - mis));
}

// addressAlignment(typedArray) -> data address modulo 64 (for tests).
FLEXCONV_EXPORT(addressAlignment) {
  Args args(info, "addressAlignment");
  Napi::Float32Array array = args.float_array(0, "array");
  auto address = reinterpret_cast<std::uintptr_t>(array.Data());
  return Napi::Number::New(info.Env(), static_cast<double>(address % flexconv::kAlignment));
}

// release(Float32Array): detaches its ArrayBuffer, which frees the memory now; every view of
// it then has length 0, so no JS or native code can reach freed memory.
FLEXCONV_EXPORT(release) {
  Args args(info, "release");
  Napi::Float32Array array = args.float_array(0, "array");
  Napi::ArrayBuffer buffer = array.ArrayBuffer();
  if (!buffer.IsDetached()) buffer.Detach();
  return info.Env().Undefined();
}

// memoryStats() -> { allocated, peak, cached }: bytes of kernel scratch memory (core/alloc.h)
// in use now, at most since resetPeakMemory(), and kept for reuse.
FLEXCONV_EXPORT(memoryStats) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("allocated", static_cast<double>(flexconv::allocated_bytes()));
  out.Set("peak", static_cast<double>(flexconv::peak_allocated_bytes()));
  out.Set("cached", static_cast<double>(flexconv::cached_scratch_bytes()));
  return out;
}

FLEXCONV_EXPORT(releaseCachedScratch) {
  flexconv::release_cached_scratch();
  return info.Env().Undefined();
}

FLEXCONV_EXPORT(resetPeakMemory) {
  flexconv::reset_peak_allocated_bytes();
  return info.Env().Undefined();
}

}  // namespace binding
}  // namespace flexconv
