#include "binding/cuda_memory.h"

#include <string>

#include "binding/args.h"
#include "binding/registry.h"
#include "core/errors.h"
#ifdef FLEXCONV_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace flexconv {
namespace binding {
namespace {

// Distinguishes our Externals from any other External a caller might pass.
const napi_type_tag kCudaMemoryTag = {0x8f3c2a1be4d07c55ULL, 0x1d9e6b0a73c4f215ULL};

void require_device(const char* what) {
#ifdef FLEXCONV_WITH_CUDA
  if (cuda::device_count() == 0) {
    throw Error(ErrorCode::Device, std::string(what) + ": no CUDA device is available (cuda.isAvailable() is false)");
  }
#else
  throw Error(ErrorCode::Device, std::string(what) +
                                     ": flexconv was built without CUDA (nvcc was not found at install time, "
                                     "or FLEXCONV_CUDA=off). Reinstall on a machine with the CUDA toolkit.");
#endif
}

}  // namespace

bool cuda_compiled() {
#ifdef FLEXCONV_WITH_CUDA
  return true;
#else
  return false;
#endif
}

void fail_without_cuda(const char* fn) {
  throw Error(ErrorCode::Device, std::string(fn) + ": this build of flexconv has no CUDA backend");
}

CudaMemory::~CudaMemory() { release(); }

void CudaMemory::release() {
#ifdef FLEXCONV_WITH_CUDA
  if (data_ != nullptr) cuda::device_free(data_);
#endif
  data_ = nullptr;
  floats_ = 0;
}

CudaMemory* unwrap_cuda_memory(const Napi::Value& value) {
  if (!value.IsExternal()) return nullptr;
  bool tagged = false;
  napi_check_object_type_tag(value.Env(), value, &kCudaMemoryTag, &tagged);
  if (!tagged) return nullptr;
  return value.As<Napi::External<CudaMemory>>().Data();
}

}  // namespace binding
}  // namespace flexconv

namespace flexconv {
namespace binding {

// cudaAllocate(floats) -> handle of uninitialised device memory
FLEXCONV_EXPORT(cudaAllocate) {
  Args args(info, "cudaAllocate");
  std::int64_t floats = args.integer(0, "floats");
  if (floats < 0) args.fail("expected floats to be non-negative but received " + std::to_string(floats));
  require_device("cudaAllocate");
#ifdef FLEXCONV_WITH_CUDA
  float* ptr = static_cast<float*>(cuda::device_malloc(static_cast<size_t>(floats) * sizeof(float)));
  auto* mem = new CudaMemory(ptr, floats);
  auto ext = Napi::External<CudaMemory>::New(info.Env(), mem, [](Napi::Env, CudaMemory* m) { delete m; });
  napi_type_tag_object(info.Env(), ext, &kCudaMemoryTag);
  return ext;
#else
  return info.Env().Undefined();
#endif
}

// cudaRelease(handle): frees the device memory now.
FLEXCONV_EXPORT(cudaRelease) {
  CudaMemory* mem = unwrap_cuda_memory(info[0]);
  if (mem != nullptr) mem->release();
  return info.Env().Undefined();
}

// cudaUpload(handle, Float32Array) / cudaDownload(handle, Float32Array)
FLEXCONV_EXPORT(cudaUpload) {
  Args args(info, "cudaUpload");
  CudaMemory* mem = unwrap_cuda_memory(info[0]);
  if (mem == nullptr) args.fail("expected a CUDA memory handle");
  Napi::Float32Array host = args.float_array(1, "host");
  if (static_cast<std::int64_t>(host.ElementLength()) != mem->floats()) args.fail("host and device sizes differ");
#ifdef FLEXCONV_WITH_CUDA
  cuda::copy_to_device(mem->data(), host.Data(), host.ByteLength());
#endif
  return info.Env().Undefined();
}

FLEXCONV_EXPORT(cudaDownload) {
  Args args(info, "cudaDownload");
  CudaMemory* mem = unwrap_cuda_memory(info[0]);
  if (mem == nullptr) args.fail("expected a CUDA memory handle");
  Napi::Float32Array host = args.float_array(1, "host");
  if (static_cast<std::int64_t>(host.ElementLength()) != mem->floats()) args.fail("host and device sizes differ");
#ifdef FLEXCONV_WITH_CUDA
  cuda::copy_to_host(host.Data(), mem->data(), host.ByteLength());
#endif
  return info.Env().Undefined();
}

// cudaInfo() -> { compiled, deviceCount, devices: [name] }
FLEXCONV_EXPORT(cudaInfo) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("compiled", cuda_compiled());
  int count = 0;
  Napi::Array names = Napi::Array::New(env);
#ifdef FLEXCONV_WITH_CUDA
  count = cuda::device_count();
  for (int d = 0; d < count; ++d) names.Set(static_cast<uint32_t>(d), cuda::device_name(d));
#endif
  out.Set("deviceCount", count);
  out.Set("devices", names);
  return out;
}

}  // namespace binding
}  // namespace flexconv
