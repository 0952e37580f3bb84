// run_program (program.hpp): argv, stdin, timeout -> stdout, status. Uses
// /bin/sh and cat, which every Linux host has. Bounded; no speed asserted.

#include <signal.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "mpkit/ipc/experiments/program.hpp"

namespace {

using namespace std::chrono_literals;
using mpkit::ProgramResult;
using mpkit::run_program;
using mpkit::Stderr;

TEST(RunProgram, FeedsStdinAndReadsStdout) {
  const ProgramResult r = run_program({"cat"}, "one\ntwo\n", 20s);
  EXPECT_TRUE(r.started) << r.error;
  EXPECT_TRUE(r.exited_ok());
  EXPECT_TRUE(r.input_written);
  EXPECT_EQ(r.out, "one\ntwo\n");
  EXPECT_EQ(r.describe("cat", 20s), "");
}

TEST(RunProgram, MoreInputAndOutputThanAPipeHolds) {
  const std::string big(1 << 20, 'x');  // 16 pipe buffers each way
  const ProgramResult r = run_program({"cat"}, big, 60s);
  EXPECT_TRUE(r.exited_ok());
  EXPECT_TRUE(r.input_written);
  EXPECT_EQ(r.out.size(), big.size());
  EXPECT_EQ(r.out, big);
}

TEST(RunProgram, ExitStatusAndStderr) {
  const ProgramResult kept =
      run_program({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, "", 20s, Stderr::kCapture);
  EXPECT_TRUE(kept.started);
  EXPECT_FALSE(kept.exited_ok());
  EXPECT_EQ(kept.exit_code, 3);
  EXPECT_EQ(kept.signal, 0);
  EXPECT_EQ(kept.out, "out\n");
  EXPECT_EQ(kept.err, "err\n");
  EXPECT_EQ(kept.describe("sh", 20s), "sh exited with status 3");
  const ProgramResult dropped = run_program({"/bin/sh", "-c", "echo err >&2"}, "", 20s);
  EXPECT_TRUE(dropped.exited_ok());
  EXPECT_EQ(dropped.err, "");
  const ProgramResult inherited =
      run_program({"/bin/sh", "-c", "echo '(stderr of a run_program test)' >&2"}, "", 20s,
                  Stderr::kInherit);
  EXPECT_TRUE(inherited.exited_ok());
  EXPECT_EQ(inherited.err, "");
}

TEST(RunProgram, ASignalIsReported) {
  const ProgramResult r = run_program({"/bin/sh", "-c", "kill -TERM $$"}, "", 20s);
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.describe("sh", 20s), "sh was killed by signal " + std::to_string(SIGTERM));
}

TEST(RunProgram, ATimeoutKillsAndKeepsWhatWasPrinted) {
  const auto start = std::chrono::steady_clock::now();
  const ProgramResult r = run_program({"/bin/sh", "-c", "echo started; exec sleep 600"}, "", 300ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);  // bounded, not a speed check
  EXPECT_TRUE(r.started);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(r.out, "started\n");
  EXPECT_EQ(r.describe("sleep", 1s), "sleep did not finish within 1 s");
}

TEST(RunProgram, AMissingProgramIsNotStartedAndSaysWhy) {
  const ProgramResult r = run_program({"mpkit-no-such-program-here"}, "", 20s);
  EXPECT_FALSE(r.started);
  EXPECT_FALSE(r.error.empty());
  const std::string said = r.describe("it", 20s);
  EXPECT_EQ(said.rfind("it could not be started: ", 0), 0U) << said;
}

TEST(RunProgram, AProgramThatStopsReadingDoesNotKillTheCaller) {
  const std::string big(1 << 20, 'y');
  const ProgramResult r = run_program({"/bin/sh", "-c", "exit 0"}, big, 20s);  // reads nothing
  EXPECT_TRUE(r.exited_ok());
  EXPECT_FALSE(r.input_written);  // and SIGPIPE, if raised, was taken back: we are alive
}

TEST(RunProgram, AGrandchildHoldingTheOutputDoesNotHoldTheCaller) {
  const auto start = std::chrono::steady_clock::now();
  const ProgramResult r =
      run_program({"/bin/sh", "-c", "echo parent; (sleep 30; echo late) & exit 0"}, "", 60s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 25s);  // bounded, not a speed check
  EXPECT_TRUE(r.exited_ok());
  EXPECT_EQ(r.out, "parent\n");
}

TEST(RunProgram, EmptyArgvIsRejected) {
  EXPECT_THROW((void)run_program({}, "", 1s), std::invalid_argument);
}

}  // namespace
