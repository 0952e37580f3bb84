#pragma once

// The synchronisation costs the ipc foundation can measure, as Measurement
// rows with experiment = "sync" (the data behind `mpkit sync`).
//
// Variants (rows, in this order):
//   futex-handoff    2 processes ping-pong a 32-bit word in an anonymous
//                    MAP_SHARED mapping, each side sleeping in futex_wait and
//                    waking the other with futex_wake: the kernel wake-up cost.
//                    metrics rtt_ns_p50, rtt_ns_p99, one_way_ns (= p50 / 2).
//   spin-handoff     the same, each side spinning on the word: the reference
//                    (cache-line transfer, no kernel). Same metrics.
//   <lock>, params mode = "uncontended": lock + ++counter + unlock in one
//                    process, metric ns_per_op.
//   <lock>, params mode = "contended": 2 processes share `lock_iterations`
//                    increments of one counter under the lock, metric
//                    ops_per_s (total); correct only if no update was lost.
//   Locks: mpkit-mutex, pthread-pshared, pthread-robust, boost-interprocess:
//                    locking/'s MpkitMutex, PthreadLock, RobustPthreadLock
//                    and BoostIpcLock, the very types users link.
//
// Every repeat runs every variant once, round-robin, so the variants are
// measured side by side under the same background load; each row reports the
// min / median / max over the repeats that completed (`repeats` counts them);
// each metric is the median over those repeats (ns_per_op and ops_per_s are
// derived from the median seconds). Times: steady_clock.
//
// Contract
//   Requires: the calling process has no threads of its own (children are
//             forked, ARCHITECTURE.md rule 3).
//   Guarantees: children always leave with _exit; every wait is bounded: a
//             child that stops answering is killed, its row gets correct =
//             false, and the experiment carries on. With `pin`, the caller's
//             CPU affinity is restored before returning.
//   Throws: std::invalid_argument naming the field for a zero repeats /
//             handoff_round_trips / lock_iterations (or round trips above
//             kMaxHandoffRoundTrips); std::system_error if fork or mmap fails.
//
// Example
//   mpkit::SyncConfig config;
//   config.repeats = 3;
//   for (const mpkit::Measurement& row : mpkit::run_sync_experiment(config)) use(row);

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit {

/// Round-trip samples are kept in memory (8 bytes each): this bounds them.
inline constexpr std::uint64_t kMaxHandoffRoundTrips = 100'000'000;

struct SyncConfig {
  unsigned repeats = 5;
  std::uint64_t handoff_round_trips = 20000;
  std::uint64_t lock_iterations = 2'000'000;  ///< per uncontended run; total across both processes when contended
  bool pin = false;  ///< pin the two sides to two different allowed CPUs
};

/// Runs every variant `repeats` times; `progress` (if set) receives one short
/// line per step ("repeat 2/5: pthread-robust contended").
[[nodiscard]] std::vector<Measurement> run_sync_experiment(
    const SyncConfig& config, const std::function<void(std::string_view)>& progress = {});

}  // namespace mpkit
