#pragma once

// Monte Carlo pi, processes vs threads, scalar vs vector (EXPERIMENTS.md §3).
//
// The darts are split into `workers` equal blocks (the first darts % workers
// blocks one dart more), one pool task each, chunksize 1 (the book's shape).
// Block k draws from stream (seed, k) of mpkit/pi/stream.hpp, so the result
// does not depend on which worker runs which task; with forget_reseed every
// block instead draws from a copy of one stream, (seed, 0), as workers that
// inherit the parent's generator do, and the experiment counts the blocks
// whose darts repeat another block's (each task returns its first two words).
//
// Rows: experiment "pi", variant "processes" (ProcessPool) or "threads"
// (ThreadPool, the same code), params kernel ("scalar" / "vector"), darts,
// seed, reseed ("per-block" / "forgotten"); metrics estimate, abs_error,
// std_errors (|error| / standard error), darts_per_s (darts / median
// seconds), speedup (the 1-worker row's median / this row's), and
// repeated_blocks with forget_reseed. correct: every repeat gave the same
// count, the estimate lies within 6 standard errors of pi, and (unless
// forget_reseed, whose rows are incorrect on purpose when blocks repeat) no
// two blocks began with the same words.
//
// Timing: each repeat visits every (workers, mode) in turn, building the
// pool and running one untimed map of one-dart tasks before the clock
// starts (so no worker start-up is timed), then times one map per kernel
// (round-robin within each repeat, ARCHITECTURE.md "Measurement
// conventions").
//
// Contract
//   Throws: std::invalid_argument naming the field (darts 0 or > 2^63 - 1,
//     darts fewer than workers, workers 0 or > 1024, repeats 0, no mode, no
//     kernel); what the pools throw.
//   Requires: the calling process has no other threads (ProcessPool forks).

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"
#include "mpkit/pi/kernels.hpp"

namespace mpkit {

struct PiExperimentConfig {
  std::uint64_t darts = 100'000'000;  ///< in all, split among the workers
  std::vector<unsigned> workers;      ///< empty: 1, 2, 4, 8 and 2 x cores
  bool processes = true;
  bool threads = true;
  bool scalar = true;
  bool vector = true;
  std::uint64_t seed = 42;
  unsigned repeats = 5;
  bool forget_reseed = false;
  bool ceiling = true;  ///< measure the parallel ceiling (rows with variant "ceiling") first
};

/// The worker counts `config` runs: sorted, without duplicates.
[[nodiscard]] std::vector<unsigned> pi_worker_counts(const PiExperimentConfig& config);

void validate_pi_experiment_config(const PiExperimentConfig& config);

[[nodiscard]] std::vector<Measurement> run_pi_experiment(
    const PiExperimentConfig& config,
    const std::function<void(std::string_view)>& progress = nullptr);

}  // namespace mpkit
