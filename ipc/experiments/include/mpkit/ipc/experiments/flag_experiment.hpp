#pragma once

// What a shared flag costs: the poll a worker runs in its hot loop, and the
// delay from set() in one process to is_set() turning true in another -- for
// every Flag backend of ipc/ (flag.hpp), as Measurement rows with experiment
// = "ipc" and params mode = "flag" (the flag half of `mpkit ipc`;
// EXPERIMENTS.md §1 and §7).
//
// What one row measures (variant = the backend)
//   poll cost: one process calls is_set() `polls` times on a clear flag (a
//     remote backend, one round trip per call, `remote_polls` times); metric
//     poll_ns = elapsed / polls, the median over repeats. Each poll's result
//     feeds a checksum, so the loop cannot be optimised away.
//   set -> seen: a watcher child polls is_set() in a tight loop ("-wait"
//     variants sleep in wait_until instead); the parent clears the flag,
//     waits until the watcher has seen it clear, reads the clock, calls
//     set(); the watcher reads the clock the moment it sees the flag set.
//     Both read CLOCK_MONOTONIC (steady_clock), which every process shares.
//     `handoffs` samples per run; metrics seen_ns_p50, seen_ns_p99 (each the
//     median over repeats of that repeat's percentile). The delay includes
//     the setter's own set() call up to the store, and one clock read (~22 ns
//     here).
//   seconds: the poll-cost runs' elapsed time.
//
// Variants (names as in flag_experiment_backends(), in this order): the
// entries of the flag registry, AllFlagBackends of mpkit/ipc/remote/backends.hpp
//   atomic       AtomicFlag: std::atomic<uint8_t>, acquire load per poll
//   rawvalue     RawValueFlag: a plain byte, relaxed load (mp.RawValue)
//   value        ValueFlag: lock + load + unlock of a robust Mutex (mp.Value)
//   futex        FutexFlag polled with is_set() (one load)
//   futex-wait   FutexFlag, watcher asleep in wait_until: the wake-up cost,
//                not a poll (poll_ns is the same load as `futex`); the
//                setter waits 200 us after the watcher is ready, so it is
//                asleep, not still spinning, when set() comes
//   redis        RedisFlag: GET per poll, SET to signal, on a real server --
//                a private one on a Unix socket unless `redis_url` is given
//   manager      ManagerFlag: one request/response per call to a Manager
//                server process over a Unix socket (multiprocessing.Manager)
//
// Pinning: with `pin` (and 2 CPUs allowed) the parent runs on the first CPU
// and the watcher on the second (params pinned = true); the caller's mask is
// restored before returning.
//
// Contract
//   Requires: the calling process has no threads of its own (children are
//             forked, ARCHITECTURE.md rule 3).
//   Guarantees: every wait is bounded; a watcher that never sees the flag
//             (or dies) fails that run: its row gets correct = false, and
//             the experiment carries on. Nothing is printed.
//   Throws:   std::invalid_argument naming the field for zero repeats,
//             polls, remote_polls or handoffs (or handoffs above
//             kMaxFlagHandoffs), an unknown backend. A Redis server that
//             cannot be started or reached fails the redis rows only (their
//             correct = false; `progress` receives the error text).
//
// Example
//   mpkit::FlagExperimentConfig config;
//   config.backends = {"atomic", "redis"};
//   for (const mpkit::Measurement& row : mpkit::run_flag_experiment(config)) use(row);

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit {

/// Set -> seen samples are kept in shared memory (8 bytes each): this bounds them.
inline constexpr std::uint64_t kMaxFlagHandoffs = 1'000'000;

struct FlagExperimentConfig {
  unsigned repeats = 5;
  std::uint64_t polls = 10'000'000;   ///< is_set() calls per poll-cost run (shared memory)
  std::uint64_t remote_polls = 2000;  ///< the same for a round-trip backend (Redis, Manager)
  std::uint64_t handoffs = 2000;      ///< set -> seen samples per run
  std::vector<std::string> backends;  ///< variant names; empty = all
  std::string redis_url;              ///< empty: start a private redis-server
  bool pin = false;                   ///< parent and watcher on two different CPUs
};

/// Every variant name, in row order.
[[nodiscard]] std::span<const std::string_view> flag_experiment_backends() noexcept;

/// Throws std::invalid_argument naming the field if `config` is not valid.
void validate_flag_experiment_config(const FlagExperimentConfig& config);

/// Runs every backend `repeats` times, round-robin; `progress` (if set)
/// receives one short line per step ("repeat 2/5: redis flag").
[[nodiscard]] std::vector<Measurement> run_flag_experiment(
    const FlagExperimentConfig& config,
    const std::function<void(std::string_view)>& progress = {});

}  // namespace mpkit
