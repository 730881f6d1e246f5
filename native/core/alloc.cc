#include "core/alloc.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/errors.h"

namespace flexconv {
namespace {

std::atomic<std::int64_t> g_allocated{0};
std::atomic<std::int64_t> g_peak{0};

// The requested size lives in a header in front of the block so that aligned_free can keep
// the counters right without a side table.
constexpr std::size_t kHeader = kAlignment;

// Large scratch blocks (sampling plans, channels-last copies, column tiles) have the same sizes
// call after call in a training loop. The C allocator hands such blocks out with mmap and
// returns them to the system on free, so every call would page-fault its scratch in again
// (hundreds of ms of kernel time per deformable ResNet step). Smaller blocks come from the heap,
// which the C allocator trims on free once its top holds more than 128 KB: the 16 Winograd
// matrices of a 128-channel conv's weights (64 KB each, packed per call) were faulted in again
// every call, 2.5 ms of a 1.5 ms conv (N16 C128 8x8). Freed blocks of at least kCacheMinBytes
// are kept, by exact size, up to kCacheLimitBytes in all, and handed to the next request of that
// size; release_cached_scratch() frees them.
constexpr std::size_t kCacheMinBytes = std::size_t(16) << 10;
constexpr std::size_t kCacheLimitBytes = std::size_t(256) << 20;

struct ScratchCache {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> free_blocks;  // by total block size
  std::size_t bytes = 0;
};

ScratchCache& cache() {
  static ScratchCache* c = new ScratchCache();  // never destroyed: frees may come during exit
  return *c;
}

void* take_cached(std::size_t total) {
  if (total < kCacheMinBytes) return nullptr;
  ScratchCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto it = c.free_blocks.find(total);
  if (it == c.free_blocks.end() || it->second.empty()) return nullptr;
  void* block = it->second.back();
  it->second.pop_back();
  c.bytes -= total;
  return block;
}

bool keep_cached(void* base, std::size_t total) {
  if (total < kCacheMinBytes) return false;
  ScratchCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  if (c.bytes + total > kCacheLimitBytes) return false;
  c.free_blocks[total].push_back(base);
  c.bytes += total;
  return true;
}

std::size_t block_total(std::size_t bytes) { return kHeader + ((bytes + kAlignment - 1) / kAlignment) * kAlignment; }

void note_peak(std::int64_t now) {
  std::int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

}  // namespace

void* aligned_malloc(std::size_t bytes) {
  const std::size_t total = block_total(bytes);
  void* base = take_cached(total);
  if (base == nullptr) base = std::aligned_alloc(kAlignment, total);
  if (base == nullptr) {
    throw Error(ErrorCode::OutOfMemory, "Could not allocate " + std::to_string(bytes) + " bytes of host memory");
  }
  *static_cast<std::size_t*>(base) = bytes;
  note_peak(g_allocated.fetch_add(static_cast<std::int64_t>(bytes)) + static_cast<std::int64_t>(bytes));
  return static_cast<char*>(base) + kHeader;
}

void aligned_free(void* ptr) {
  if (ptr == nullptr) return;
  char* base = static_cast<char*>(ptr) - kHeader;
  const std::size_t bytes = *reinterpret_cast<std::size_t*>(base);
  g_allocated.fetch_sub(static_cast<std::int64_t>(bytes));
  if (!keep_cached(base, block_total(bytes))) std::free(base);
}

std::int64_t cached_scratch_bytes() {
  ScratchCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return static_cast<std::int64_t>(c.bytes);
}

void release_cached_scratch() {
  ScratchCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& entry : c.free_blocks) {
    for (void* block : entry.second) std::free(block);
  }
  c.free_blocks.clear();
  c.bytes = 0;
}

ThreadScratch::~ThreadScratch() { std::free(data_); }

float* ThreadScratch::get(std::size_t count, AlignedBuffer<float>& overflow) {
  if (count > kThreadScratchMaxFloats) {
    overflow = AlignedBuffer<float>(count);
    return overflow.data();
  }
  if (count > size_) {
    std::free(data_);
    data_ = nullptr;
    size_ = 0;
    const std::size_t bytes = (count * sizeof(float) + 4095) / 4096 * 4096;
    data_ = static_cast<float*>(std::aligned_alloc(4096, bytes));
    if (data_ == nullptr)
      throw Error(ErrorCode::OutOfMemory, "Could not allocate " + std::to_string(bytes) + " bytes of thread scratch");
    size_ = bytes / sizeof(float);
  }
  return data_;
}

std::int64_t allocated_bytes() { return g_allocated.load(); }
std::int64_t peak_allocated_bytes() { return g_peak.load(); }
void reset_peak_allocated_bytes() { g_peak.store(g_allocated.load()); }

}  // namespace flexconv
