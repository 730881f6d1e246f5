#include "core/alloc.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "core/errors.h"

namespace flexconv {
namespace {

std::atomic<std::int64_t> g_allocated{0};
std::atomic<std::int64_t> g_peak{0};

// The requested size lives in a header in front of the block so that aligned_free can keep
// the counters right without a side table.
constexpr std::size_t kHeader = kAlignment;

void note_peak(std::int64_t now) {
  std::int64_t peak = g_peak.load(std::memory_order_relaxed);
  while (now > peak && !g_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

}  // namespace

void* aligned_malloc(std::size_t bytes) {
  std::size_t total = kHeader + ((bytes + kAlignment - 1) / kAlignment) * kAlignment;
  void* base = std::aligned_alloc(kAlignment, total);
  if (base == nullptr) {
    throw Error(ErrorCode::OutOfMemory,
                "Could not allocate " + std::to_string(bytes) + " bytes of host memory");
  }
  *static_cast<std::size_t*>(base) = bytes;
  note_peak(g_allocated.fetch_add(static_cast<std::int64_t>(bytes)) + static_cast<std::int64_t>(bytes));
  return static_cast<char*>(base) + kHeader;
}

void aligned_free(void* ptr) {
  if (ptr == nullptr) return;
  char* base = static_cast<char*>(ptr) - kHeader;
  g_allocated.fetch_sub(static_cast<std::int64_t>(*reinterpret_cast<std::size_t*>(base)));
  std::free(base);
}

std::int64_t allocated_bytes() { return g_allocated.load(); }
std::int64_t peak_allocated_bytes() { return g_peak.load(); }
void reset_peak_allocated_bytes() { g_peak.store(g_allocated.load()); }

}  // namespace flexconv
