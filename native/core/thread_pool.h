// The one thread pool every CPU kernel uses. Size: FLEXCONV_NUM_THREADS, else all cores;
// changeable at run time (tests compare 1 and 2 threads).
//
// Work is split statically by default (parallel_for gives thread t the t-th contiguous
// range), so a kernel whose ranges write disjoint memory is deterministic at any thread
// count. Calls made from inside a parallel region run inline on the calling thread, and
// parallel regions started from different JS threads (worker_threads) take turns.
// Ranges/slots are not guaranteed to run concurrently: the caller runs any slot whose
// worker has not started yet (a descheduled worker on a busy machine), so code must never
// make one range wait for another (no barriers or spin-waits between ranges).
#pragma once
#include <cstdint>
#include <functional>

namespace flexconv {

int num_threads();
void set_num_threads(int n);  // n >= 1; joins and restarts the workers

// fn(begin, end) over [0, n) split into at most num_threads() contiguous ranges of at least
// `grain` items each; runs inline when there is only one range.
void parallel_for(std::int64_t n, const std::function<void(std::int64_t, std::int64_t)>& fn, std::int64_t grain = 1);

// fn(task, thread) for task in [0, tasks), handed out dynamically. `thread` is in
// [0, num_threads()) and identifies per-thread scratch space; results must not depend on it.
void parallel_tasks(std::int64_t tasks, const std::function<void(std::int64_t, int)>& fn);

// True inside a worker or inside a parallel region's caller.
bool in_parallel_region();

}  // namespace flexconv
