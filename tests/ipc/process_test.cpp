#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/segment_name.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;

TEST(ProcessTest, JoinReturnsExitCode) {
  Process child([] { return 7; });
  EXPECT_GT(child.pid(), 0);
  EXPECT_EQ(child.join(10s), 7);
  EXPECT_EQ(child.exitcode(), 7);
  EXPECT_EQ(child.join(), 7) << "joining again returns the same code";
  EXPECT_FALSE(child.is_alive());
}

TEST(ProcessTest, VoidCallableExitsZero) {
  Process child([] {});
  EXPECT_EQ(child.join(10s), 0);
}

TEST(ProcessTest, UncaughtExceptionBecomesExitCodeAndNeverUnwindsIntoParent) {
  // If the exception unwound past the child's entry, the child would run the
  // rest of this test (and GoogleTest) a second time: the shared flag counts
  // how many processes got past the throw.
  auto shm = SharedMemory::anonymous(4096);
  auto* reached = shm.as<std::atomic<int>>();
  Process child([] { throw std::runtime_error("boom"); });
  reached->fetch_add(1);
  EXPECT_EQ(child.join(10s), kUncaughtExceptionExit);
  EXPECT_EQ(reached->load(), 1);
}

TEST(ProcessTest, KilledChildReportsNegativeSignal) {
  Process child([] {
    ::pause();
    return 0;
  });
  EXPECT_TRUE(child.is_alive());
  child.kill();
  EXPECT_EQ(child.join(10s), -SIGKILL);
}

TEST(ProcessTest, TerminateSendsSigterm) {
  Process child([] {
    ::pause();
    return 0;
  });
  child.terminate();
  EXPECT_EQ(child.join(10s), -SIGTERM);
}

TEST(ProcessTest, JoinTimesOutOnARunningChild) {
  Process child([] {
    ::pause();
    return 0;
  });
  EXPECT_EQ(child.join(50ms), std::nullopt);
  EXPECT_TRUE(child.is_alive());
  child.kill();
  EXPECT_EQ(child.join(10s), -SIGKILL);
}

TEST(ProcessTest, DestructorKillsAndReapsSoNoZombieRemains) {
  pid_t pid = 0;
  {
    Process child([] {
      ::pause();
      return 0;
    });
    pid = child.pid();
  }
  // Reaped: the pid is no longer our child (ECHILD), not a zombie.
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_TRUE(process_is_gone(pid));
}

TEST(ProcessTest, MoveTransfersOwnership) {
  Process a([] { return 3; });
  Process b = std::move(a);
  EXPECT_EQ(a.pid(), 0);  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(b.join(10s), 3);
  EXPECT_THROW((void)a.join(), std::invalid_argument);  // NOLINT(bugprone-use-after-move)
}

TEST(ProcessTest, NegativeTimeoutIsInvalidArgument) {
  Process child([] { return 0; });
  EXPECT_THROW((void)child.join(-1s), std::invalid_argument);
  EXPECT_EQ(child.join(10s), 0);
}

TEST(ProcessTest, ChildDiesWithItsParent) {
  // grandparent (the test) -> parent -> grandchild. Killing the parent must
  // take the grandchild with it (PR_SET_PDEATHSIG), leaving no orphan.
  auto shm = SharedMemory::anonymous(4096);
  auto* grandchild_pid = shm.as<std::atomic<pid_t>>();
  Process parent([grandchild_pid] {
    Process grandchild([] {
      ::pause();
      return 0;
    });
    grandchild_pid->store(grandchild.pid());
    ::pause();
    return 0;
  });
  const auto give_up = std::chrono::steady_clock::now() + 10s;
  while (grandchild_pid->load() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  const pid_t orphan = grandchild_pid->load();
  ASSERT_NE(orphan, 0);
  parent.kill();
  EXPECT_EQ(parent.join(10s), -SIGKILL);
  bool gone = false;
  while (!(gone = process_is_gone(orphan)) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(gone) << "grandchild " << orphan << " outlived its parent";
}

TEST(ProcessTest, ParentsBufferedOutputIsNotWrittenAgainByChildren) {
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  ASSERT_EQ(std::setvbuf(file, nullptr, _IOFBF, 4096), 0);
  std::fputs("once", file);  // sits in the buffer, not yet in the file
  for (int i = 0; i < 3; ++i) {
    Process child([] { return 0; });
    ASSERT_EQ(child.join(10s), 0);
  }
  std::fflush(file);
  std::rewind(file);
  char text[32] = {};
  const std::size_t read = std::fread(text, 1, sizeof text - 1, file);
  std::fclose(file);
  EXPECT_EQ(std::string(text, read), "once");
}

TEST(ProcessTest, PthreadExitEndsTheChildWithoutUnwindingIntoTheParent) {
  auto shm = SharedMemory::anonymous(4096);
  auto* reached = shm.as<std::atomic<int>>();
  Process child([] { ::pthread_exit(nullptr); });
  reached->fetch_add(1);  // only the parent may get here
  const auto code = child.join(10s);
  ASSERT_TRUE(code.has_value());
#if !defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's pthread_exit interceptor ends the child with its own
  // code; what matters under it too is that nothing unwound into our frames.
  EXPECT_EQ(code, 0);
#endif
  EXPECT_EQ(reached->load(), 1);
}

TEST(ProcessTest, HugeTimeoutsWaitInsteadOfReturningEarly) {
  // 2^32 + 10 ms once truncated to 10 ms in poll(); duration::max() overflowed.
  Process child([] {
    ::usleep(50'000);
    return 4;
  });
  EXPECT_EQ(child.join(std::chrono::milliseconds((1LL << 32) + 10)), 4);
  Process other([] {
    ::usleep(20'000);
    return 5;
  });
  EXPECT_EQ(other.join(std::chrono::steady_clock::duration::max()), 5);
}

TEST(ProcessTest, JoinWithSigchldIgnoredDoesNotThrow) {
  // With SIGCHLD ignored the kernel reaps children itself: join must still
  // return (the code is then unknowable and reported as -SIGKILL).
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGCHLD, &ignore, &previous);
  Process child([] { return 0; });
  std::optional<int> code;
  EXPECT_NO_THROW(code = child.join(10s));
  ::sigaction(SIGCHLD, &previous, nullptr);
  EXPECT_TRUE(code.has_value());
}

TEST(ProcessTest, CachedPidIsRightInChildrenForkedWithoutAtforkHandlers) {
  ASSERT_EQ(current_pid(), ::getpid());  // the parent's cache is warm
  // _Fork runs no atfork handlers: only the WIPEONFORK page saves the child.
  const pid_t pid = ::_Fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(current_pid() == ::getpid() ? 0 : 1);
  int status = -1;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace mpkit
