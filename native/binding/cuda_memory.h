// Device memory owned by a JS object (an External with a type tag), freed by GC or by
// releaseCuda(). Present in every build; without CUDA, allocation throws a DeviceError.
#pragma once
#include <napi.h>

#include <cstdint>

namespace flexconv {
namespace binding {

class CudaMemory {
 public:
  CudaMemory(float* data, std::int64_t floats) : data_(data), floats_(floats) {}
  ~CudaMemory();
  float* data() const { return data_; }
  std::int64_t floats() const { return floats_; }
  void release();  // frees now; the object then reports 0 floats

 private:
  float* data_;
  std::int64_t floats_;
};

// The CudaMemory behind a JS value, or nullptr if it is not one of ours.
CudaMemory* unwrap_cuda_memory(const Napi::Value& value);

bool cuda_compiled();

// Throws the DeviceError for a CUDA tensor reaching `fn` in a build without the CUDA backend.
[[noreturn]] void fail_without_cuda(const char* fn);

}  // namespace binding
}  // namespace flexconv

// The CUDA branch of a binding: `FLEXCONV_CUDA_CALL(fn, cuda::op(...))` is the call in a build
// with the CUDA backend and the DeviceError naming `fn` in one without (the call's text, which
// names functions only CUDA builds declare, is then dropped by the preprocessor).
#ifdef FLEXCONV_WITH_CUDA
#define FLEXCONV_CUDA_CALL(fn, ...) __VA_ARGS__
#else
#define FLEXCONV_CUDA_CALL(fn, ...) ::flexconv::binding::fail_without_cuda(fn)
#endif
