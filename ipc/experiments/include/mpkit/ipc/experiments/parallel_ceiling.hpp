#pragma once

// The parallel ceiling: what N independent CPU-bound processes, with no IPC
// at all, achieve together on this machine, for N = 1 .. the allowed CPUs
// (ARCHITECTURE.md, "Measurement conventions": a speedup is read against a
// ceiling measured in the same run; on these VMs two vCPUs sometimes give
// the power of one). The caller gives the work; an experiment then prints
// its own speedup beside the ceiling's.
//
// One run (ceiling_once): N children (ForkedChildren) start together at the
// gate, each runs work() once and records when it finished; the run's
// seconds go from the gate's opening to the last finish. A child whose
// work() returns false (a wrong answer) or that does not finish within the
// budget fails the run. With a Pinning, child i runs on its i-th CPU.
//
// Rows (measure_parallel_ceiling): experiment = config.experiment, variant
// "ceiling", workers = N; params processes (N) and pinned; `repeats` runs
// per N, round robin over N within each repeat; metrics speedup = N x
// median(t1) / median(tN) (the work per second of N processes against one)
// and efficiency = speedup / N, whenever both rows have a completed run.
//
// Contract
//   Requires: the calling process has no threads of its own unless work()
//             is async-signal-safe (ARCHITECTURE.md rule 3).
//   Throws: std::invalid_argument naming the field for no work, zero
//           repeats or more than kMaxCeilingProcesses processes;
//           std::system_error if a mapping or a fork fails.
//
// Example
//   mpkit::CeilingConfig ceiling{.experiment = "primes",
//                                .work = [] { return count_primes(1 << 20) == 82025; }};
//   for (mpkit::Measurement& row : mpkit::measure_parallel_ceiling(ceiling)) rows.push_back(row);

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"
#include "mpkit/ipc/experiments/pinning.hpp"

namespace mpkit {

/// The most processes one ceiling run may start.
inline constexpr unsigned kMaxCeilingProcesses = 1024;

struct CeilingConfig {
  std::string experiment{};      ///< the rows' experiment name
  std::function<bool()> work{};  ///< one process's CPU-bound work; true when its answer is right
  unsigned max_processes = 0;    ///< N runs from 1 to this; 0: the allowed CPUs (nproc)
  unsigned repeats = 3;
  bool pin = false;                  ///< child i on the i-th allowed CPU
  std::chrono::seconds budget{120};  ///< the most one run may take
};

/// One run of `processes` children; its seconds, or nullopt if it failed.
[[nodiscard]] std::optional<double> ceiling_once(unsigned processes,
                                                 const std::function<bool()>& work,
                                                 const Pinning* pinning,
                                                 std::chrono::seconds budget);

/// The ceiling's rows, N = 1 .. max_processes (see the file comment).
[[nodiscard]] std::vector<Measurement> measure_parallel_ceiling(
    const CeilingConfig& config, const std::function<void(std::string_view)>& progress = {});

}  // namespace mpkit
