#pragma once

// Python's multiprocessing.Pool measured on this machine, in the same run as
// mpkit's pools: the peer the pool targets are ratios against.
// Rows have experiment = "pool" and variant = "python", in the shapes of
// the ProcessPool rows they sit beside:
//   part overhead  Pool(workers).map(noop, range(n), chunksize=1) and with
//                  Python's default chunksize; metric tasks_per_s (items /
//                  median seconds); params inputs, chunksize "1"/"default".
//   part startup   Pool(2) then close() and join(), no task; metric
//                  start_join_us_p50.
// The pool is built before the clock starts for the overhead rows, as for
// mpkit's. Python runs as `python3 -c <script>` (the fork start method,
// Linux's default before 3.14), its output read through a pipe.
//
// Contract
//   Guarantees: bounded: a python3 that does not finish within `timeout` is
//     killed; no python3 on PATH (or a failing script) gives rows with
//     correct = false and repeats = 0, and `error` says why. Never throws
//     for a missing or failing Python.
//   Throws: std::invalid_argument naming the field for zero repeats,
//     workers, inputs or startup_runs.
//   Requires: a single-threaded caller is not needed (posix_spawn).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit {

struct PythonBaselineConfig {
  unsigned repeats = 3;
  unsigned workers = 2;
  std::uint64_t chunk1_inputs = 20'000;      ///< ~60 k tasks/s: a third of a second
  std::uint64_t default_inputs = 1'000'000;  ///< ~10 M items/s
  unsigned startup_runs = 5;
  std::chrono::seconds timeout{120};
};

struct PythonBaseline {
  std::vector<Measurement> rows;  ///< overhead chunksize 1, overhead default, startup
  std::string error;              ///< empty when Python ran
  std::string version;            ///< "Python 3.11.2" when it ran
};

[[nodiscard]] PythonBaseline run_python_pool_baseline(const PythonBaselineConfig& config);

}  // namespace mpkit
