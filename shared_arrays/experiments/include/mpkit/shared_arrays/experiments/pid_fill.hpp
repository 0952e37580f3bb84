#pragma once

// The chapter's pid-fill task and its verification (EXPERIMENTS.md §4): a
// matrix of doubles starts filled with 42; each task takes one row, checks
// it still holds 42 and writes the worker's pid into the whole row. The
// verifier then proves every row was done exactly once, by a known worker,
// and that the work was spread over every worker.
//
// Contract
//   Requires: `cols` > 0 and `cells.size()` a multiple of it; pids below
//             2^53 (exact as doubles; Linux pids are below 2^22).
//   Throws: std::invalid_argument naming the argument (verify_pid_fill).
//   Thread safety: pure functions over the memory passed in; the caller
//             orders them after the writers (e.g. after reaping them).
//
// Example
//   // in worker w, for each of its rows r:
//   if (!mpkit::fill_row_with_pid(matrix.row(r), getpid())) return 1;  // row was not 42
//   // in the parent, after joining the workers:
//   auto check = mpkit::verify_pid_fill(matrix.span(), matrix.cols(), pids);
//   if (!check.ok()) std::puts(check.describe().c_str());

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace mpkit {

/// The chapter's fill value.
inline constexpr double kPidFillInitial = 42.0;

/// Checks that `row` holds `initial` everywhere, then writes `pid` into every
/// cell. False (and nothing written) if some cell did not hold `initial`: the
/// row was already done, or never initialised.
[[nodiscard]] bool fill_row_with_pid(std::span<double> row, pid_t pid,
                                     double initial = kPidFillInitial) noexcept;

/// What verify_pid_fill found.
struct PidFillCheck {
  std::uint64_t rows = 0;
  std::uint64_t cells = 0;
  std::uint64_t initial_left = 0;  ///< cells still holding the initial value (skipped work)
  std::uint64_t unknown = 0;       ///< cells holding neither the initial value nor a worker's pid
  std::uint64_t mixed_rows = 0;    ///< rows whose cells are not all one value
  std::size_t distinct_pids = 0;   ///< worker pids seen at least once
  std::size_t expected_distinct = 0;         ///< min(workers, rows)
  std::optional<std::size_t> first_bad_row;  ///< lowest row with any of the faults above

  /// Every cell a worker's pid, rows uniform, and as many distinct pids as
  /// expected.
  [[nodiscard]] bool ok() const noexcept {
    return initial_left == 0 && unknown == 0 && mixed_rows == 0 &&
           distinct_pids == expected_distinct;
  }
  /// One line for messages: "ok: 100 rows by 2 workers" or what is wrong.
  [[nodiscard]] std::string describe() const;
};

/// Verifies a pid-filled matrix given as its cells (row-major) and `cols`.
/// Throws std::invalid_argument naming `cols` (0, or not dividing the cell
/// count) or `worker_pids` (empty).
[[nodiscard]] PidFillCheck verify_pid_fill(std::span<const double> cells, std::size_t cols,
                                           std::span<const pid_t> worker_pids,
                                           double initial = kPidFillInitial);

}  // namespace mpkit
