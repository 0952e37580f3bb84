#pragma once

// The shared-array experiment (EXPERIMENTS.md §4, the data behind `mpkit
// array`), as Measurement rows with experiment = "array".
//
// One rows x cols SharedMatrix<double> (anonymous, pre-faulted in the
// parent, mapped before any pool is built so every worker inherits it at the
// same address) serves every variant. The parallel variants are a
// ProcessPool of `workers` mapping a task over the rows, as the chapter's
// Pool.map does: each task gets a RowRef (the row's address and length, a
// trivially copyable argument) and the default chunksize is Python's,
// ceil(rows / (4 x workers)). Rows, in this order:
//   memset-1core     the parent memsets the whole matrix: single-core write
//                    bandwidth on warm pages, the baseline. metrics
//                    bytes_per_s.
//   pid-fill         a fresh pool (started, one no-op task per worker
//                    done, untimed); the matrix is filled with 42 (untimed);
//                    pool.map runs fill_row_with_pid on every row (check
//                    42, write the worker's pid; a row without 42 is the
//                    task's error). Timed around the map call: dispatch,
//                    the workers' minor faults on first touch of their rows
//                    (a fresh pool pays them), results in. Then the same map
//                    on a refilled matrix (warm_*: page tables mapped,
//                    bandwidth alone). correct: both maps completed and
//                    verify_pid_fill against pool.worker_pids() is ok
//                    after each. metrics bytes_per_s, ratio_to_memset
//                    (bandwidth over the memset row's, medians),
//                    distinct_pids, chunksize, and the memory proof of the
//                    last repeat, taken while every worker is alive and
//                    idle: parent_{rss,pss,private}_bytes,
//                    worker<k>_{rss,pss,private}_bytes, pss_sum_bytes (all
//                    these processes; ~ array_bytes when nothing was copied,
//                    ~ (workers + 1) x if every process had its own copy),
//                    worker_private_fraction_max (a worker's private bytes
//                    over the array's: the target is under 1 %). The pool's
//                    fork server maps the matrix too but never touches it.
//   random-serial    the parent fills every row with uniform doubles from
//                    one std::mt19937_64. metrics values_per_s,
//                    repeated_rows.
//   random-parallel  the same pool maps a random fill over the rows; each
//                    worker draws from its own stream, seeded on its first
//                    task from (seed, this_worker_index()) — ARCHITECTURE.md rule
//                    7. metrics values_per_s, speedup_vs_serial,
//                    repeated_rows. correct: no row repeats another.
//   random-parallel-forgot-reseed  (only with forget_reseed) the book's bug:
//                    a generator seeded once in the parent before a new pool
//                    is built, and every worker draws from the copy fork
//                    gave it — worker k's j-th row equals every other
//                    worker's j-th row. repeated_rows shows it and correct
//                    is false: the bug is reproduced and detected.
//
// Every repeat runs every variant once, round-robin; each row reports min /
// median / max seconds over the repeats that completed (`repeats` counts
// them); metrics derive from the medians. Times: steady_clock.
//
// Contract
//   Requires: the calling process has no threads of its own (ProcessPool
//             forks its fork server, ARCHITECTURE.md rule 3); one call at a time
//             per process (the forgotten-reseed generator is a global, as
//             the book's was).
//   Guarantees: every map is bounded (10 min); a worker that dies or a task
//             that fails marks its row correct = false and drops that
//             repeat's sample; no segment can leak (anonymous mappings);
//             every pool is joined or terminated before return.
//   Throws: std::invalid_argument naming the field (rows, cols, workers,
//             repeats 0); SharedMatrix's errors for a size that does not
//             fit (std::system_error ENOMEM naming the size and the limit)
//             or overflows; std::system_error if the pool cannot fork.
//
// Example
//   mpkit::ArrayConfig config = mpkit::quick_array_config();
//   config.forget_reseed = true;
//   for (const mpkit::Measurement& row : mpkit::run_array_experiment(config)) use(row);

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit {

struct ArrayConfig {
  std::size_t rows = 2000;
  std::size_t cols = 4000;  ///< doubles per row
  unsigned workers = 2;
  unsigned repeats = 3;
  /// Adds the random-parallel-forgot-reseed row (the book's bug).
  bool forget_reseed = false;
  /// Base seed of the random fills; 0 draws one from std::random_device.
  std::uint64_t seed = 0;
  /// Rows per task chunk of the pool's maps; 0: Python's default,
  /// ceil(rows / (4 x workers)).
  std::size_t chunksize = 0;
};

/// The book's "good demo": 10000 x 40000 doubles (3.2 GB).
inline constexpr std::size_t kBookRows = 10000;
inline constexpr std::size_t kBookCols = 40000;

/// A quick size for `mpkit run`: 1000 x 4000 doubles (32 MB), 3 repeats.
[[nodiscard]] ArrayConfig quick_array_config();

/// The book's 10000 x 40000 when it fits in half of what SharedMemory may
/// place (MemAvailable), else as many 40000-column rows as do (at least
/// one): a default that never runs the machine out of memory.
[[nodiscard]] ArrayConfig default_array_config();

/// Runs every variant `repeats` times; `progress` (if set) receives one short
/// line per step ("repeat 2/3: pid-fill").
[[nodiscard]] std::vector<Measurement> run_array_experiment(
    const ArrayConfig& config, const std::function<void(std::string_view)>& progress = {});

}  // namespace mpkit
