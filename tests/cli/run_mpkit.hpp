#pragma once

// Runs the built mpkit binary the way a user does (no shell, no quoting),
// through the lab's program runner: stdout and stderr come back whole, and a
// run that outlives its limit is killed and fails the test instead of CI.

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/program.hpp"

#ifndef MPKIT_CLI_PATH
#error "MPKIT_CLI_PATH must name the built mpkit binary"
#endif

namespace mpkit::test {

struct MpkitRun {
  int exit_code = -1;  // -signal if killed
  std::string out;
  std::string err;
};

/// `mpkit args...`, with `extra_env` ("NAME=value") added to its
/// environment (through env(1)); killed after `limit`.
inline MpkitRun run_mpkit(const std::vector<std::string>& args,
                          std::chrono::seconds limit = std::chrono::seconds(90),
                          const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> argv;
  argv.reserve(args.size() + extra_env.size() + 2);
  if (!extra_env.empty()) {
    argv.emplace_back("env");
    argv.insert(argv.end(), extra_env.begin(), extra_env.end());
  }
  argv.emplace_back(MPKIT_CLI_PATH);
  argv.insert(argv.end(), args.begin(), args.end());
  ProgramResult run = run_program(argv, "", limit, Stderr::kCapture);
  if (!run.started) ADD_FAILURE() << "posix_spawn " << MPKIT_CLI_PATH << ": " << run.error;
  if (run.timed_out) ADD_FAILURE() << "mpkit did not finish within " << limit.count() << " s";
  return {run.signal != 0 ? -run.signal : run.exit_code, std::move(run.out), std::move(run.err)};
}

}  // namespace mpkit::test
