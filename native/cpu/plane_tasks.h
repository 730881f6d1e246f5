// How the direct convolution kernels (cpu/conv2d_direct.h, cpu/conv2d_depthwise.h) split their
// output between the thread pool's tasks. A unit is what one bordered input copy serves: an
// image (every output channel of it) for the direct conv, one plane for depthwise.
//
// Small units go several to a task: handing out a task costs an atomic add on a cache line both
// cores write, a scratch lookup and the copy's set-up, about what one 7x7 depthwise plane costs
// to compute (one task per plane made two threads slower than one there). When the units are
// too few to give every thread a couple, each is cut into chunks of output rows instead.
#pragma once
#include <algorithm>
#include <cstdint>

namespace flexconv {
namespace cpu {

struct PlaneTasks {
  std::int64_t units, out_h;
  std::int64_t units_per_task, rows_per_chunk, chunks_per_unit, tasks;

  // Task t's units [unit0, unit1) and output rows [oy0, oy1) of each.
  struct Range {
    std::int64_t unit0, unit1, oy0, oy1;
  };
  Range range(std::int64_t t) const {
    const std::int64_t unit0 = t / chunks_per_unit * units_per_task;
    const std::int64_t oy0 = t % chunks_per_unit * rows_per_chunk;
    return {unit0, std::min(units, unit0 + units_per_task), oy0, std::min(out_h, oy0 + rows_per_chunk)};
  }
};

// `unit_outputs`: floats one unit writes; `min_rows`: the fewest output rows worth a task of
// their own (the bordered copy's halo rows are read again by the next chunk).
inline PlaneTasks plane_tasks(std::int64_t units, std::int64_t out_h, std::int64_t unit_outputs, std::int64_t threads,
                              std::int64_t min_rows) {
  // Outputs per task worth one hand-out, and tasks per thread that keep the threads even when
  // one of them is descheduled for a while.
  constexpr std::int64_t kTaskOutputs = 4096, kTasksPerThread = 4;
  if (units >= 2 * threads) {
    const std::int64_t by_size = std::max<std::int64_t>(1, kTaskOutputs / std::max<std::int64_t>(1, unit_outputs));
    const std::int64_t by_balance = std::max<std::int64_t>(1, units / (kTasksPerThread * threads));
    const std::int64_t per_task = std::min(by_size, by_balance);
    return {units, out_h, per_task, out_h, 1, (units + per_task - 1) / per_task};
  }
  const std::int64_t pieces = std::max<std::int64_t>(1, std::min(out_h / min_rows, 2 * threads));
  const std::int64_t rows = std::max<std::int64_t>(1, (out_h + pieces - 1) / pieces),
                     chunks = (out_h + rows - 1) / rows;
  return {units, out_h, 1, rows, chunks, units * chunks};
}

}  // namespace cpu
}  // namespace flexconv
