// Host-side CUDA runtime helpers, implemented in runtime.cu. Plain C++ so the binding can
// include it without the CUDA headers; only linked when the addon is built with CUDA
// (FLEXCONV_WITH_CUDA). Every call throws flexconv::Error on a CUDA failure.
#pragma once
#include <cstddef>
#include <string>

namespace flexconv {
namespace cuda {

int device_count();  // 0 when there is no device or no driver; never throws
std::string device_name(int device);
void* device_malloc(std::size_t bytes);
void device_free(void* ptr) noexcept;
void copy_to_device(void* dst, const void* src, std::size_t bytes);
void copy_to_host(void* dst, const void* src, std::size_t bytes);
void copy_device_to_device(void* dst, const void* src, std::size_t bytes);
void fill(float* dst, float value, std::size_t count);
void synchronize();
// Raises flexconv::Error(Device) naming `what` if the last launch failed.
void check_last_launch(const char* what);

}  // namespace cuda
}  // namespace flexconv
