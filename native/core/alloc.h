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

// A per-thread scratch buffer that lives between calls (declare it thread_local): grows to the
// largest request up to kThreadScratchMaxFloats floats, larger ones are handed out for the call
// only (in `overflow`). It stays in its thread's cache, where a buffer handed back to the shared
// cache may next go to another thread: writing lines that sit in the other core's cache made
// Winograd's input transform 2-3x slower at two threads. Not counted by allocated_bytes(): it
// is a bounded cache, not a per-op allocation, and counting it would make every "memory is
// back after the op" check see a leak.
constexpr std::size_t kThreadScratchMaxFloats = std::size_t(4) << 20;  // 16 MB

class ThreadScratch {
 public:
  ThreadScratch() = default;
  ~ThreadScratch();
  ThreadScratch(const ThreadScratch&) = delete;
  ThreadScratch& operator=(const ThreadScratch&) = delete;
  float* get(std::size_t count, AlignedBuffer<float>& overflow);

 private:
  float* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace flexconv
