// The `mpkit ipc` subcommand as a user runs it: bad input exits 2, a tiny run
// exits 0 (the rows themselves are tested in tests/ipc/ipc_experiment_test.cpp).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#ifndef MPKIT_CLI_PATH
#error "MPKIT_CLI_PATH must name the built mpkit binary"
#endif

extern char** environ;

namespace {

// `mpkit args...`: the exit code (-signal if killed), output discarded; killed
// after 60 s so a hang fails the test.
int mpkit_exit_code(std::vector<std::string> args) {
  // No insert at the front: GCC 12 warns falsely (null-dereference) on the
  // string moves of a growing vector<string>.
  std::string path = MPKIT_CLI_PATH;
  std::vector<char*> argv{path.data()};
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&files, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argv[0], &files, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << " failed: " << rc;
    return -1;
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > give_up) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "mpkit did not finish within 60 s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
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
