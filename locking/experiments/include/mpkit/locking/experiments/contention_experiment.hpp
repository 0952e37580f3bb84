#pragma once

// Lock contention (EXPERIMENTS.md §6): every lock of the registry under one
// harness, as Measurement rows with experiment = "contention" (the data
// behind `mpkit contention`).
//
// One run of (lock, workers): the parent builds the lock in an anonymous
// shared mapping, forks `workers` processes (pinned round-robin to the
// allowed CPUs with `pin`), releases them together, waits until every one
// runs, then opens the measured window and sleeps for `duration`; then it
// raises a stop flag and reaps them. Each worker loops:
//   lock(); critical section; unlock(); outside work
// The critical section reads the guarded counter, runs `critical_work` work
// steps on it and writes counter + 1; the outside work is `outside_work`
// steps, times the number of workers when `scale_outside_work` (so each
// worker's share of the lock -- the contention ratio -- stays the same as
// workers are added, the SOSP 2013 methodology). A work step is one
// dependent 64-bit multiply-add (metric work_step_ns says what it costs).
//
// The harness must not hide the locks (a clock read costs ~24 ns here, ten
// times a TAS acquisition): a worker counts its acquisitions in a register
// and checks the stop flag (one relaxed load of a line nobody writes until
// the end) -- no clock read per acquisition. One acquisition in
// `sample_every` is timed (clock before and after lock()) into the worker's
// own sample buffer (up to kMaxSamplesPerWorker); latency percentiles pool
// every worker's samples. Samples are per acquisition, so a starved worker
// (an unfair lock under load) contributes few of them and its long waits
// hardly show in p99: read the percentiles beside share_min and jain. Variant "none" (with `baseline`) runs the same
// loop with no lock and an empty critical section on a private counter:
// the harness's own ceiling, reported beside the locks.
//
// Rows (one per (variant, workers), variants in config order after "none",
// workers ascending; every repeat runs every row once, round-robin):
//   params   critical_work, outside_work, outside_per_worker (the steps
//            actually run: outside_work x workers if scaled), scaled,
//            pinned, duration_ms, sample_every, nproc
//   seconds  the measured windows (all running to stop), min / median / max
//   metrics  acq_per_s (median over repeats; acq_per_s_min / _max give
//            the spread), jain (Jain's fairness index over the workers'
//            acquisitions, 1 = equal shares, 1/n = one worker did all),
//            share_min / share_max (smallest and largest worker's share);
//            these three over the windows with any acquisition (absent if
//            none had one: every worker descheduled, on a loaded machine),
//            latency_ns_p50 / latency_ns_p99 (sampled lock() latency),
//            work_step_ns
//   correct  every repeat finished in time and the guarded counter equals
//            the sum of the workers' acquisitions (no lost update)
//
// Contract
//   Requires: the calling process has no threads of its own (children are
//             forked, ARCHITECTURE.md rule 3).
//   Guarantees: children leave with _exit; every wait is bounded: workers
//             that do not check in, or do not stop within kStopTimeout of
//             the stop flag (a dead or starved holder), are killed and the
//             row gets correct = false; the experiment carries on. With
//             `pin`, the caller's CPU affinity is restored before returning.
//   Throws: std::invalid_argument naming the field for an unknown lock name,
//             0 or more than kMaxContentionWorkers workers, zero repeats,
//             duration or sample_every; std::system_error if fork or mmap fails.
//
// Example
//   mpkit::locking::ContentionConfig config;
//   config.locks = {"tas", "ticket", "mpkit-mutex"};
//   config.outside_work = 100;
//   for (const mpkit::Measurement& row : mpkit::locking::run_contention_experiment(config)) use(row);

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit::locking {

inline constexpr unsigned kMaxContentionWorkers = 256;
inline constexpr std::uint32_t kMaxSamplesPerWorker = 4096;
/// How long workers may take to notice the stop flag and leave.
inline constexpr std::chrono::seconds kStopTimeout{10};

struct ContentionConfig {
  std::vector<std::string> locks;  ///< registry names; empty: every lock
  std::vector<unsigned> workers;   ///< empty: default_contention_workers()
  std::uint32_t critical_work = 0; ///< work steps inside the critical section
  std::uint32_t outside_work = 0;  ///< work steps between acquisitions (see scale_outside_work)
  bool scale_outside_work = true;  ///< outside work x workers: constant contention ratio
  bool pin = false;                ///< pin worker i to the (i mod n)-th allowed CPU
  std::chrono::milliseconds duration{200};  ///< one measured window
  unsigned repeats = 3;
  std::uint32_t sample_every = 256;  ///< time one acquisition in this many
  bool baseline = true;              ///< add the "none" row (harness overhead)
};

/// 1, 2, ... 2 x the CPUs this process may run on (oversubscription is
/// where the FIFO spin locks collapse).
[[nodiscard]] std::vector<unsigned> default_contention_workers();

/// Runs every (variant, workers) `repeats` times; `progress` (if set)
/// receives one short line per run ("repeat 1/3: ticket x 4").
[[nodiscard]] std::vector<Measurement> run_contention_experiment(
    const ContentionConfig& config, const std::function<void(std::string_view)>& progress = {});

}  // namespace mpkit::locking
