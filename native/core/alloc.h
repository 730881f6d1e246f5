// 64-byte aligned host memory: every tensor and every scratch buffer comes from here, so
// vector loads never split cache lines and the allocator can report what is in use.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace flexconv {

constexpr std::size_t kAlignment = 64;

// Throws Error(OutOfMemory) instead of returning null.
void* aligned_malloc(std::size_t bytes);
void aligned_free(void* ptr);

// Bytes currently allocated through aligned_malloc, and the high-water mark since the last
// reset. Benchmarks use these to report the extra memory an op needs.
std::int64_t allocated_bytes();
std::int64_t peak_allocated_bytes();
void reset_peak_allocated_bytes();

// Freed large blocks are kept for the next request of the same size (see alloc.cc): the
// bytes held that way (not counted in allocated_bytes), and a way to free them all.
std::int64_t cached_scratch_bytes();
void release_cached_scratch();

// Scratch buffer owned by a scope.
template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t count)
      : data_(count ? static_cast<T*>(aligned_malloc(count * sizeof(T))) : nullptr), size_(count) {}
  ~AlignedBuffer() { aligned_free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& other) noexcept : data_(other.data_), size_(other.size_) {
    other.data_ = nullptr;
    other.size_ = 0;
  }
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    if (this != &other) {
      aligned_free(data_);
      data_ = other.data_;
      size_ = other.size_;
      other.data_ = nullptr;
      other.size_ = 0;
    }
    return *this;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace flexconv
