// The `mpkit ipc` subcommand as a user runs it: bad input exits 2, a tiny run
// exits 0 (the rows themselves are tested in tests/ipc/ipc_experiment_test.cpp).

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "run_mpkit.hpp"

namespace {

// `mpkit args...`: the exit code (-signal if killed), output discarded; killed
// after 60 s so a hang fails the test.
int mpkit_exit_code(const std::vector<std::string>& args) {
  return mpkit::test::run_mpkit(args, std::chrono::seconds(60)).exit_code;
}

TEST(IpcCommand, BadInputExitsWithTwo) {
  EXPECT_EQ(mpkit_exit_code({"ipc", "--repeat", "0"}), 2);
  EXPECT_EQ(mpkit_exit_code({"ipc", "--bytes", "100"}), 2);
  EXPECT_EQ(mpkit_exit_code({"ipc", "--backends", "lockfree-spsc,carrier-pigeon"}), 2);
  EXPECT_EQ(mpkit_exit_code({"ipc", "--unpinned-too"}), 2);
  EXPECT_EQ(mpkit_exit_code({"ipc", "--flags", "atomic,smoke-signal"}), 2);
  EXPECT_EQ(mpkit_exit_code({"ipc", "--flags", "none,atomic"}), 2);
  EXPECT_EQ(mpkit_exit_code({"ipc", "--backends", "none", "--flags", "none"}), 2);
  EXPECT_EQ(mpkit_exit_code({"ipc", "--handoffs", "0"}), 2);
}

TEST(IpcCommand, TinyRunExitsWithZero) {
  EXPECT_EQ(mpkit_exit_code({"ipc", "--repeat", "1", "--messages", "1000", "--round-trips", "100",
                             "--bytes", "8", "--backends", "lockfree-spsc,pipe", "--flags",
                             "none"}),
            0);
  EXPECT_EQ(mpkit_exit_code({"ipc", "--repeat", "1", "--backends", "none", "--flags", "atomic",
                             "--polls", "1000", "--handoffs", "20"}),
            0);
}

}  // namespace
