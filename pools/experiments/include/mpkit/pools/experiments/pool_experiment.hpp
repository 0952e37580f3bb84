#pragma once

// The `mpkit pool` experiment (EXPERIMENTS.md §2 and §7): what a pool
// task costs, how a CPU-bound map scales with the number of workers, and
// how the chunksize and the number of chunks move it -- ProcessPool beside
// ThreadPool, as Measurement rows with experiment = "pool" and params
// part = one of the parts below. Nothing is printed.
//
// Parts (pool_experiment_parts(), in row order)
//   startup    construct + close + join of a 2-worker pool with no task,
//              `startup_runs` times; seconds = those runs; metric
//              start_join_us_p50. Run first, while the process is small:
//              fork and exit cost grows with the parent's resident memory.
//   overhead   a no-op task (int -> int) mapped over `overhead_inputs`
//              items, chunksize 1 and the default, 2 workers; variant
//              "process" / "thread"; metric tasks_per_s (items / median
//              seconds). The pool is built before the clock starts.
//   submit     kSubmits = 80 tasks that sleep 5 ms, submitted one by one on
//              4 workers (mode sleeping-submits: seconds from the first
//              submit to the last get, metrics ideal_s and ratio_to_ideal),
//              and 2000 submit(noop).get() round trips on 2 workers (mode
//              round-trip: rtt_us_p50, rtt_us_p99); variant process / thread.
//   ceiling    the machine's parallel ceiling (mpkit/ipc/experiments/
//              parallel_ceiling.hpp): N = 1 .. cores processes each doing
//              the serial job below, no pool; variant "ceiling", metric
//              speedup. Sweep and chunksize rows then carry of_ceiling =
//              their speedup / the ceiling's at the same count.
//   sweep      trial division (odd divisors up to isqrt(n), evens rejected
//              first) over [range_begin, range_end) (range B by default):
//              a "serial" row, then a ProcessPool of w workers for w in
//              `sweep_workers` (default 1 .. 2 x cores, the oversubscribed
//              points included), default chunksize; metrics speedup (serial
//              median / median), efficiency (speedup / w), primes, and
//              parent_cpu_s / parent_cpu_pct: the driving thread's CPU
//              time (RUSAGE_THREAD), median, and its share of the wall time.
//   chunksize  the same map on a ProcessPool of `cores` workers for each
//              chunksize in `chunksizes` (0 = Python's default); metrics
//              speedup, chunks.
//   chunks     the same with chunksize = ceil(len / k) for k = 1 ..
//              max_chunks: the sawtooth whose minima sit at multiples of
//              the worker count.
//   With `shuffle` the sweep/chunksize/chunks inputs are shuffled (a fixed
//   seed), so cheap and expensive candidates mix (params shuffled = true).
//
// Every row's `correct`: the pool's answer equals the serial one (the prime
// count, or every no-op result).
//
// Contract
//   Requires: the calling process has no threads of its own (ProcessPools
//     fork their fork server; ARCHITECTURE.md rule 3).
//   Throws: std::invalid_argument naming the field (repeats 0, an empty or
//     reversed range, an unknown part, a worker count 0, max_chunks 0,
//     overhead_inputs 0, startup_runs 0).
//
// Example
//   mpkit::PoolExperimentConfig config;
//   config.parts = {"overhead", "startup"};
//   for (const mpkit::Measurement& row : mpkit::run_pool_experiment(config)) use(row);

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit {

struct PoolExperimentConfig {
  unsigned repeats = 5;
  std::vector<std::uint64_t> overhead_inputs = {100'000, 1'000'000};
  unsigned overhead_workers = 2;
  std::uint64_t range_begin = 100'000'000;  ///< range B of EXPERIMENTS.md §2
  std::uint64_t range_end = 100'100'000;
  std::vector<unsigned> sweep_workers;  ///< empty: 1 .. 2 x available cores
  std::vector<std::uint64_t> chunksizes = {0, 1, 2, 3, 4, 5, 8, 10, 50, 100, 1000, 5000, 10000, 50000};
  unsigned max_chunks = 32;
  unsigned startup_runs = 20;
  bool shuffle = false;
  std::vector<std::string> parts;  ///< empty: all
};

/// Every part name, in row order.
[[nodiscard]] std::span<const std::string_view> pool_experiment_parts() noexcept;

/// Throws std::invalid_argument naming the field if `config` is not valid.
void validate_pool_experiment_config(const PoolExperimentConfig& config);

/// Trial division, as the experiment runs it (exposed for tests).
[[nodiscard]] bool pool_experiment_is_prime(std::uint64_t n) noexcept;

/// Runs the chosen parts; `progress` (if set) receives one short line per step.
[[nodiscard]] std::vector<Measurement> run_pool_experiment(
    const PoolExperimentConfig& config, const std::function<void(std::string_view)>& progress = {});

}  // namespace mpkit
