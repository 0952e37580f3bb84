#pragma once

// The chapter's counters (EXPERIMENTS.md §5): `workers` processes each add 1
// to one shared counter `count` times, with and without a lock, timed from
// the first fork to the last join as in the book. The lesson: without a lock
// updates are lost; every lock has its price. Rows have experiment =
// "counter" (the data behind `mpkit counter`).
//
// Variants (names as in counter_variants(), in this order)
//   file-nolock    a number in a file: open for reading, read, open for
//                  writing with truncation while the read handle is still
//                  open, close the read handle, write n + 1, close -- the
//                  book's order (closing the read handle first makes ext4
//                  flush on every increment). No lock: updates are lost, and
//                  a reader can find the file empty or half-written: that is a
//                  parse error, counted, and that increment is skipped.
//   file-lock      the same under flock(2) on a lock file of its own
//                  (FlockLock); lock_scope "increment" (default) locks each
//                  increment, "loop" a worker's whole loop (what the 2nd/3rd
//                  editions timed with fasteners).
//   value-nolock   load, add, store of an int64 in shared memory, no lock
//                  (RawValueCounter): loses updates.
//   value-lock     an int64 with its own robust lock (ValueCounter, mp.Value).
//   rawvalue-lock  an int64 (RawValueCounter) beside a separate lock object
//                  (an mpkit::Mutex): mp.RawValue + mp.Lock.
//   atomic         fetch_add on std::atomic<int64> (AtomicCounter).
//   redis          INCR on a real redis-server (a private one on a Unix socket
//                  unless redis_url is given).
//   manager        an add request to a Manager server per increment.
//   lock:<name>    an int64 in shared memory guarded by each lock of the
//                  registry (lock:tas, lock:mcs, ... see lock_names()).
//
// Start: the children are forked, then wait at a start barrier so that they
// really run at the same time (otherwise on a fast variant one child could
// finish before the next is forked and nothing would be lost); the clock
// still runs from before the first fork to after the last join.
//
// Scaling (auto_scale, on by default): a variant that may lose updates
// (file-nolock, value-nolock) whose median repeat lost none is run again with
// 10x the count (capped at kMaxAutoScaleCount per worker), until it loses,
// the cap is reached, or a run's median took kAutoScaleSeconds or more -- so
// that the book's lesson shows even where the scheduler rarely overlaps the
// workers (a loaded machine), in bounded time. Whether anything is lost is
// the scheduler's business: a run that lost nothing says so (lost 0, correct
// = true). Params count is the count used and requested_count the one asked
// for.
//
// Every lock acquisition is bounded (kLockTimeout): a holder that died
// inside its critical section makes that worker fail, its row correct =
// false, never a hang. Nothing is printed.
//
// Row: workers; params count (per worker), requested_count, expected, and
// lock_scope for file-lock; metrics final (median over repeats),
// lost_updates (median; expected - final of each repeat), lost_updates_max, parse_errors (median; file
// variants), increments_per_s (from the median seconds); correct = every
// repeat's final == expected and every worker exited cleanly.
//
// Contract
//   Requires: the calling process has no threads of its own (ARCHITECTURE.md rule 3).
//   Throws: std::invalid_argument naming the field for zero repeats, workers
//     (or more than kMaxCounterWorkers), count (or above kMaxCounterCount),
//     an unknown variant or lock_scope. A variant that cannot be set up here
//     (no redis-server) fails its own row (correct = false; `progress` gets
//     the error).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit::locking {

inline constexpr unsigned kMaxCounterWorkers = 256;
inline constexpr std::uint64_t kMaxCounterCount = 100'000'000;
inline constexpr std::uint64_t kMaxAutoScaleCount = 100'000'000;
/// Scaling stops once a run's median took this long (the next would take ~10x).
inline constexpr double kAutoScaleSeconds = 0.5;

struct CounterConfig {
  unsigned repeats = 5;
  unsigned workers = 4;
  std::uint64_t count = 1000;          ///< increments per worker
  std::vector<std::string> variants;   ///< empty: all of counter_variants()
  std::string lock_scope = "increment";  ///< file-lock: "increment" or "loop"
  bool auto_scale = true;
  std::string redis_url;               ///< empty: a private redis-server
};

/// Every variant name, in row order (lock:<name> for each registered lock).
[[nodiscard]] std::vector<std::string> counter_variants();

/// Throws std::invalid_argument naming the field if `config` is not valid.
void validate_counter_config(const CounterConfig& config);

/// Runs every variant `repeats` times, round-robin.
[[nodiscard]] std::vector<Measurement> run_counter_experiment(
    const CounterConfig& config, const std::function<void(std::string_view)>& progress = {});

}  // namespace mpkit::locking
