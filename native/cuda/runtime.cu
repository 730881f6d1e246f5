#include <cuda_runtime.h>

#include <string>

#include "core/errors.h"
#include "cuda/runtime.h"

namespace flexconv {
namespace cuda {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(ErrorCode::Device, std::string(what) + " failed: " + cudaGetErrorString(status));
  }
}

__global__ void fill_kernel(float* dst, float value, std::size_t count) {
  std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i < count) dst[i] = value;
}

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

std::string device_name(int device) {
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return prop.name;
}

void* device_malloc(std::size_t bytes) {
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, bytes == 0 ? 1 : bytes);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw Error(ErrorCode::OutOfMemory, "Could not allocate " + std::to_string(bytes) + " bytes of CUDA memory");
  }
  check(status, "cudaMalloc");
  return ptr;
}

void device_free(void* ptr) noexcept { cudaFree(ptr); }

void copy_to_device(void* dst, const void* src, std::size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy host->device");
}

void copy_to_host(void* dst, const void* src, std::size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy device->host");
}

void copy_device_to_device(void* dst, const void* src, std::size_t bytes) {
  check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy device->device");
}

void fill(float* dst, float value, std::size_t count) {
  if (count == 0) return;
  unsigned blocks = static_cast<unsigned>((count + 255) / 256);
  fill_kernel<<<blocks, 256>>>(dst, value, count);
  check_last_launch("fill");
}

void synchronize() { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

void check_last_launch(const char* what) { check(cudaGetLastError(), what); }

}  // namespace cuda
}  // namespace flexconv
