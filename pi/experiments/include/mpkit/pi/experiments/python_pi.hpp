#pragma once

// The book's Python versions of Monte Carlo pi, measured in the same run as
// the C++ kernels: pi/experiments/python/pi_lists.py (pure Python,
// random.uniform) and pi_numpy.py, each under multiprocessing.Pool
// ("processes") and multiprocessing.dummy.Pool ("threads").
//
// Rows: experiment "pi", variant "python-processes" / "python-threads",
// params kernel ("lists" / "numpy"), darts, seed; metrics estimate,
// abs_error, darts_per_s. correct: every repeat ran and the estimate lies
// within 6 standard errors of pi. A script that cannot run gives no rows and
// a line in `notes` naming why (and the Debian package: python3,
// python3-numpy). If the `python` interpreter lacks numpy, Debian's
// /usr/bin/python3 (where python3-numpy installs) is tried for pi_numpy.py.
//
// Contract
//   Guarantees: bounded: each script run is killed after `timeout`. Never
//     throws for a missing or failing Python.
//   Throws: std::invalid_argument naming the field (repeats 0, darts 0, a
//     worker count 0).

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit {

struct PythonPiConfig {
  std::uint64_t lists_darts = 2'000'000;   ///< pure Python: ~1 s on one core
  std::uint64_t numpy_darts = 20'000'000;  ///< numpy: well under a second
  std::vector<unsigned> workers{1, 2};
  bool processes = true;
  bool threads = true;
  bool lists = true;
  bool numpy = true;
  unsigned repeats = 3;
  std::uint64_t seed = 42;
  std::string python = "python3";
  std::string script_dir;  ///< empty: the repository's pi/experiments/python
  std::chrono::seconds timeout{300};
};

struct PythonPi {
  std::vector<Measurement> rows;
  std::vector<std::string> notes;  ///< versions used; why a script did not run
};

[[nodiscard]] PythonPi run_python_pi(const PythonPiConfig& config,
                                     const std::function<void(std::string_view)>& progress = nullptr);

}  // namespace mpkit
