#pragma once

// Runs another program (python3 here) and collects its standard output,
// within a deadline. The smallest runner `mpkit pi` needs; the harness's
// generic runner (ipc/experiments/) is meant to replace it once merged.
//
// Contract
//   Guarantees: a program still running at the deadline is killed
//     (SIGKILL) and reaped; never throws for a program that cannot start,
//     fails or times out: `error` says which ("<program> could not be
//     started: No such file or directory", "... exited with status 3",
//     "... did not finish within 60 s"), and `exit_code` is its status.
//     Standard error goes to /dev/null.
//   Throws: std::invalid_argument for an empty argv.
//   Requires: nothing of the caller's threads (posix_spawn, not fork).

#include <chrono>
#include <string>
#include <vector>

namespace mpkit {

struct ProgramOutput {
  std::string out;    ///< everything it wrote to stdout
  std::string error;  ///< empty when it ran and exited 0
  int exit_code = -1; ///< its exit status; -1 if it never ran or was killed
};

/// Runs argv[0] (searched on PATH) with the rest as its arguments.
[[nodiscard]] ProgramOutput run_program(const std::vector<std::string>& argv,
                                        std::chrono::seconds timeout);

}  // namespace mpkit
