#pragma once

// run_program: start another program (python3 for the Python baselines,
// gnuplot for the plots, the mpkit binary in its tests), feed it its input,
// collect what it prints, and bound how long all of that may take.
//
// argv[0] is looked up on PATH (posix_spawnp) unless it holds a '/'. The
// program reads `input` on its stdin (then end of file: an empty input is an
// immediate end of file) and writes into pipes the caller reads back whole;
// stderr is kept like stdout, sent to /dev/null, or left as the caller's. The wait is bounded: a
// program still running at `timeout` is SIGKILLed, reaped, and reported as
// timed out, with whatever it had printed so far. Once the program has
// exited, output already in the pipes is read and the rest is not waited
// for, so a grandchild that inherited them (a daemon it started) cannot
// hold the caller up. SIGPIPE from a program that stops reading early is
// kept away from the caller (blocked on the calling thread, never left
// pending); the input is then reported as not fully written.
//
// posix_spawn does not fork the caller's address space, so a threaded
// caller may use it (ARCHITECTURE.md rule 3 does not apply).
//
// Contract
//   Requires: argv is not empty.
//   Guarantees: never throws for the program's failures, nor for this
//     process's: a program that cannot be started (no such file, no pipe
//     left) gives started = false and `error`; no zombie is left on any
//     path; returns within `timeout` plus the time to reap a SIGKILLed
//     program.
//   Throws: std::invalid_argument for an empty argv.
//   Thread safety: any thread; each call is independent.
//
// Example
//   using namespace std::chrono_literals;
//   const mpkit::ProgramResult r = mpkit::run_program({"python3", "-c", "print(input())"}, "hi\n", 5s);
//   if (r.exited_ok()) assert(r.out == "hi\n");
//   else std::puts(r.describe("python3", 5s).c_str());  // "python3 exited with status 1", ...

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace mpkit {

enum class Stderr {
  kDiscard,  ///< /dev/null
  kCapture,  ///< into ProgramResult::err
  kInherit,  ///< the caller's stderr (a test's helper speaking into the test log)
};

struct ProgramResult {
  bool started = false;        ///< false: the program could not be started (see `error`)
  bool timed_out = false;      ///< still running at the timeout; killed
  int exit_code = -1;          ///< its exit status when it exited (else -1)
  int signal = 0;              ///< the signal that ended it (SIGKILL after a timeout), else 0
  bool input_written = false;  ///< every byte of the input reached the program
  std::string out;             ///< its stdout
  std::string err;             ///< its stderr (Stderr::kCapture)
  std::string error;           ///< why it was not started: posix_spawn's strerror, or "pipe2: ..."

  /// Started, exited by itself with status 0.
  [[nodiscard]] bool exited_ok() const noexcept {
    return started && !timed_out && signal == 0 && exit_code == 0;
  }
  /// "" when exited_ok(); else how `name` ended: "<name> could not be started:
  /// <error>", "<name> did not finish within <timeout> s", "<name> was killed
  /// by signal <n>" or "<name> exited with status <n>".
  [[nodiscard]] std::string describe(std::string_view name, std::chrono::seconds timeout) const;
};

/// Runs argv with `input` on its stdin; see the file comment.
[[nodiscard]] ProgramResult run_program(const std::vector<std::string>& argv,
                                        std::string_view input, std::chrono::milliseconds timeout,
                                        Stderr stderr_to = Stderr::kDiscard);

}  // namespace mpkit
