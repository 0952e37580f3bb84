#pragma once

// The shared-array experiment (EXPERIMENTS.md §4, the data behind `mpkit
// array`), as Measurement rows with experiment = "array".
//
// One rows x cols SharedMatrix<double> (anonymous, pre-faulted in the
// parent) serves every variant. Rows, in this order:
//   memset-1core     the parent memsets the whole matrix: single-core write
//                    bandwidth on warm pages, the baseline. metrics
//                    bytes_per_s.
//   pid-fill         the matrix is filled with 42 (untimed); `workers`
//                    forked processes take rows r = k mod workers (worker k)
//                    and run fill_row_with_pid on each (check 42, write the
//                    pid). Timed from the parent's "go" to the last worker's
//                    finish (the workers' own minor faults on first touch of
//                    their rows are inside: a fresh pool pays them too);
//                    then the same workers do it again on a refilled matrix
//                    (warm_*: page tables mapped, bandwidth alone).
//                    correct: verify_pid_fill ok after every pass of every
//                    repeat. metrics
//                    bytes_per_s, ratio_to_memset (bandwidth over the
//                    memset row's, medians), distinct_pids, and the memory
//                    proof of the last repeat, taken while every worker
//                    is still alive: parent_{rss,pss,private}_bytes,
//                    worker<k>_{rss,pss,private}_bytes, pss_sum_bytes (all
//                    processes; ~ array_bytes when nothing was copied, ~
//                    (workers + 1) x if every process had its own copy),
//                    worker_private_fraction_max (a worker's private bytes
//                    over the array's: the target is under 1 %).
//   random-serial    the parent fills every row with uniform doubles from
//                    one std::mt19937_64. metrics values_per_s,
//                    repeated_rows.
//   random-parallel  `workers` processes fill rows r = k mod workers, each
//                    from its own stream seeded with (seed, k) — DESIGN.md
//                    rule 7. metrics values_per_s, speedup_vs_serial,
//                    repeated_rows. correct: no row repeats another.
//   random-parallel-forgot-reseed  (only with forget_reseed) the same, but
//                    every worker uses the engine it inherited from the
//                    parent by fork — the book's bug: worker k's j-th row
//                    equals every other worker's j-th row. repeated_rows
//                    shows it and correct is false: the bug is reproduced
//                    and detected.
//
// Every repeat runs every variant once, round-robin; each row reports min /
// median / max seconds over the repeats that completed (`repeats` counts
// them); metrics derive from the medians. Times: steady_clock.
//
// Contract
//   Requires: the calling process has no threads of its own (workers are
//             forked, DESIGN.md rule 3).
//   Guarantees: workers leave with _exit; every wait is bounded (a worker
//             that stops answering is killed, its repeat is dropped and the
//             row marked correct = false); no segment can leak (anonymous).
//   Throws: std::invalid_argument naming the field (rows, cols, workers,
//             repeats 0); SharedMatrix's errors for a size that does not
//             fit (std::system_error ENOMEM naming the size and the limit)
//             or overflows; std::system_error if fork fails.
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

#include "mpkit/ipc/measurement.hpp"

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

/// How many of the `rows` rows of `cells` (row-major, `cols` wide) repeat
/// an earlier row byte for byte (hashes first, memcmp to confirm). Throws
/// std::invalid_argument for cols 0.
[[nodiscard]] std::uint64_t count_repeated_rows(const double* cells, std::size_t rows,
                                                std::size_t cols);

}  // namespace mpkit
