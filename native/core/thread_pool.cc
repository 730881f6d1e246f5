#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/errors.h"

namespace flexconv {
namespace {

thread_local bool t_in_region = false;

// How long a waiting thread polls with the pause hint alone before it starts yielding its core.
constexpr int kPauseSpinMicros = 30;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

int default_thread_count() {
  if (const char* env = std::getenv("FLEXCONV_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n >= 1) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

class Pool {
 public:
  Pool() { start(default_thread_count()); }
  ~Pool() { stop(); }

  int size() const { return size_; }

  void resize(int n) {
    std::lock_guard<std::mutex> region(region_mutex_);
    stop();
    start(n);
  }

  // Runs job(slot) for slots [0, used); the caller runs slot 0, workers the others. A slot
  // whose worker has not picked it up by the time the caller is done with its own is run by
  // the caller instead: on a busy machine a descheduled worker can take milliseconds to
  // wake, and waiting for it would cost more than doing its share. Each slot runs exactly
  // once, on whichever thread claims it, so results do not depend on who ran it.
  void run(int used, const std::function<void(int)>& job) {
    std::lock_guard<std::mutex> region(region_mutex_);
    used = std::min(used, size_);
    if (used <= 1) {
      run_inline(job, 0);
      return;
    }
    std::uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_.store(&job, std::memory_order_relaxed);
      pending_.store(used - 1);
      error_ = nullptr;
      // The slots open before the generation moves: a worker that sees the new generation
      // (acquire) finds its slot open, and only a claimed slot reads job_.
      gen = generation_.load(std::memory_order_relaxed) + 1;
      for (int t = 1; t < used; ++t) slots_[t].store(2 * gen, std::memory_order_relaxed);
      generation_.store(gen, std::memory_order_release);
    }
    wake_.notify_all();
    std::exception_ptr caller_error;
    try {
      run_inline(job, 0);
    } catch (...) {
      caller_error = std::current_exception();
    }
    for (int t = 1; t < used; ++t) {
      if (!claim(t, gen)) continue;
      try {
        run_inline(job, t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
    // The workers reference `job`, so wait for them even when our part failed.
    // Spin briefly (the other ranges are usually about as long as ours), then sleep.
    const bool done = spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; }, 200);
    if (!done) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return pending_.load() == 0; });
    }
    job_.store(nullptr, std::memory_order_relaxed);
    if (caller_error) std::rethrow_exception(caller_error);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_inline(const std::function<void(int)>& job, int slot) {
    t_in_region = true;
    try {
      job(slot);
    } catch (...) {
      t_in_region = false;
      throw;
    }
    t_in_region = false;
  }

  // Slot states: 2 * generation = open for that generation's job, 2 * generation + 1 =
  // claimed. A worker that wakes after its generation is over fails to claim and skips it.
  bool claim(int slot, std::uint64_t gen) {
    std::uint64_t open = 2 * gen;
    return slots_[slot].compare_exchange_strong(open, open + 1, std::memory_order_acq_rel);
  }

  void start(int n) {
    size_ = std::max(1, n);
    slots_.reset(new std::atomic<std::uint64_t>[static_cast<size_t>(size_)]);
    for (int t = 0; t < size_; ++t) slots_[t].store(0);
    quit_.store(false);
    // New workers must ignore every generation published before they existed.
    const std::uint64_t current = generation_.load();
    for (int t = 1; t < size_; ++t) workers_.emplace_back([this, t, current] { worker(t, current); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_.store(true);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  void worker(int index, std::uint64_t seen) {
    t_in_region = true;
    for (;;) {
      // Spin a little before blocking: kernels come in quick succession (a batch-1 forward
      // starts a region every few microseconds).
      if (!spin_until([&] { return generation_seen() != seen; }, 100)) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_seen() != seen; });
      }
      seen = generation_seen();
      if (quit_.load(std::memory_order_acquire)) return;
      // A slot this generation did not open, or one the caller already ran, fails the claim;
      // a claimed slot keeps the region (and job_) open until this worker is done with it.
      if (!claim(index, seen)) continue;
      const std::function<void(int)>* job = job_.load(std::memory_order_relaxed);
      try {
        (*job)(index);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_all();
      }
    }
  }

  // Polls ready() for up to `micros`: the first few microseconds with the CPU's pause hint only
  // (a region's other thread usually answers within them; on this project's virtual machines a
  // sched_yield system call took several microseconds, doubling the cost of a short region),
  // then yielding the core between polls. True once ready() held.
  template <class Ready>
  static bool spin_until(Ready ready, int micros) {
    const auto start = std::chrono::steady_clock::now();
    const auto pause_until = start + std::chrono::microseconds(kPauseSpinMicros);
    const auto give_up = start + std::chrono::microseconds(micros);
    for (;;) {
      for (int i = 0; i < 32; ++i) {
        if (ready()) return true;
        cpu_relax();
      }
      const auto now = std::chrono::steady_clock::now();
      if (now > give_up) return false;
      if (now > pause_until) std::this_thread::yield();
    }
  }

  std::uint64_t generation_seen() const { return generation_.load(std::memory_order_acquire); }

  std::mutex region_mutex_;  // one parallel region at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  std::atomic<const std::function<void(int)>*> job_{nullptr};
  int size_ = 1;
  std::atomic<bool> quit_{false};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool* instance = new Pool();  // never destroyed: workers may outlive static teardown
  return *instance;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  FLEXCONV_CHECK(n >= 1 && n <= 1024, ErrorCode::InvalidArgument,
                 "Expected numThreads to be an integer in [1, 1024] but received " + std::to_string(n));
  FLEXCONV_CHECK(!t_in_region, ErrorCode::InvalidArgument,
                 "setNumThreads cannot be called from inside a parallel region");
  pool().resize(n);
}

bool in_parallel_region() { return t_in_region; }

void parallel_for(std::int64_t n, const std::function<void(std::int64_t, std::int64_t)>& fn, std::int64_t grain) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(grain, 1);
  std::int64_t chunks = std::min<std::int64_t>(num_threads(), (n + grain - 1) / grain);
  if (chunks <= 1 || t_in_region) {
    fn(0, n);
    return;
  }
  pool().run(static_cast<int>(chunks), [&](int t) {
    std::int64_t begin = n * t / chunks;
    std::int64_t end = n * (t + 1) / chunks;
    if (begin < end) fn(begin, end);
  });
}

void parallel_tasks(std::int64_t tasks, const std::function<void(std::int64_t, int)>& fn) {
  if (tasks <= 0) return;
  if (tasks == 1 || num_threads() == 1 || t_in_region) {
    for (std::int64_t i = 0; i < tasks; ++i) fn(i, 0);
    return;
  }
  std::atomic<std::int64_t> next{0};
  int used = static_cast<int>(std::min<std::int64_t>(num_threads(), tasks));
  pool().run(used, [&](int t) {
    for (std::int64_t i = next.fetch_add(1); i < tasks; i = next.fetch_add(1)) fn(i, t);
  });
}

}  // namespace flexconv
