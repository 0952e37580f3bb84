// ForkedChildren (children.hpp): one start gate, one join deadline, one set
// of exit codes. Every wait is bounded; no assertion on speed.

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "mpkit/ipc/detail/clock.hpp"
#include "mpkit/ipc/experiments/children.hpp"
#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/futex.hpp"

namespace {

using namespace std::chrono_literals;
using mpkit::ChildExit;
using mpkit::ChildrenReport;
using mpkit::ForkedChildren;
using mpkit::SharedBox;

struct Board {
  std::atomic<std::uint32_t> prepared{0};
  std::atomic<std::uint32_t> ran{0};
  std::atomic<std::int64_t> earliest_run_ns{0};
};

TEST(ForkedChildren, NoChildRunsBeforeTheGateOpens) {
  SharedBox<Board> board;
  const std::int64_t opened_after = [&] {
    ForkedChildren children;
    for (int i = 0; i < 3; ++i) {
      children.spawn([&] { board->prepared.fetch_add(1); },
                     [&] {
                       std::int64_t none = 0;
                       const std::int64_t now = mpkit::detail::now_ns();
                       board->earliest_run_ns.compare_exchange_strong(none, now);
                       board->ran.fetch_add(1);
                       return ChildExit::kOk;
                     });
    }
    EXPECT_EQ(children.size(), 3U);
    EXPECT_TRUE(children.await_check_in());
    EXPECT_EQ(board->prepared.load(), 3U) << "prepare runs before the check-in";
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(board->ran.load(), 0U) << "a child ran before open()";
    const std::int64_t before_open = mpkit::detail::now_ns();
    children.open();
    const ChildrenReport report = children.join_within(20s);
    EXPECT_TRUE(report.ok()) << report.describe();
    EXPECT_EQ(report.exitcodes.size(), 3U);
    EXPECT_EQ(report.timed_out(), 0U);
    EXPECT_EQ(report.describe(), "");
    return before_open;
  }();
  EXPECT_EQ(board->ran.load(), 3U);
  EXPECT_GE(board->earliest_run_ns.load(), opened_after);
}

TEST(ForkedChildren, StartTimedReadsTheClockBeforeAnyChildRuns) {
  SharedBox<std::atomic<std::int64_t>> ran_at(0);
  ForkedChildren children;
  children.spawn([&] {
    ran_at->store(mpkit::detail::now_ns());
    return ChildExit::kOk;
  });
  const std::optional<std::int64_t> start_ns = children.start_timed();
  ASSERT_TRUE(start_ns.has_value());
  EXPECT_TRUE(children.join_within(20s).ok());
  EXPECT_GE(ran_at->load(), *start_ns);
}

TEST(ForkedChildren, StartTimedWithoutACheckInIsNullopt) {
  ForkedChildren children(100ms);
  children.spawn([] {
    std::this_thread::sleep_for(1s);  // prepares far too long: never checks in in time
  }, [] { return ChildExit::kOk; });
  EXPECT_FALSE(children.start_timed().has_value());
}

TEST(ForkedChildren, ExitCodesComeBackInSpawnOrder) {
  ForkedChildren children;
  children.spawn([] { return ChildExit::kOk; });
  children.spawn([] { return ChildExit::kStalled; });
  children.spawn([] { return 42; });
  ASSERT_TRUE(children.start());
  const ChildrenReport report = children.join_within(20s);
  ASSERT_EQ(report.exitcodes.size(), 3U);
  EXPECT_EQ(report.exitcodes[0], 0);
  EXPECT_EQ(report.exitcodes[1], static_cast<int>(ChildExit::kStalled));
  EXPECT_EQ(report.exitcodes[2], 42);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.describe(), "child 1: stalled; child 2: exit 42");
}

TEST(ForkedChildren, AChildStillRunningAtTheDeadlineIsKilledAndReported) {
  ForkedChildren children;
  children.spawn([] {
    for (;;) std::this_thread::sleep_for(1s);
    return ChildExit::kOk;
  });
  children.spawn([] { return ChildExit::kOk; });
  ASSERT_TRUE(children.start());
  const auto start = std::chrono::steady_clock::now();
  const ChildrenReport report = children.join(mpkit::deadline_after(200ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);  // bounded, not a speed check
  ASSERT_EQ(report.exitcodes.size(), 2U);
  EXPECT_FALSE(report.exitcodes[0].has_value());
  EXPECT_EQ(report.exitcodes[1], 0);
  EXPECT_EQ(report.timed_out(), 1U);
  EXPECT_EQ(report.describe(), "child 0: still running at the deadline (killed)");
}

TEST(ForkedChildren, AGateThatNeverOpensEndsTheChildWithNoStart) {
  ForkedChildren children(100ms);
  children.spawn([] { return ChildExit::kOk; });
  ASSERT_TRUE(children.await_check_in());
  // No open(): the child gives up at its start timeout.
  const ChildrenReport report = children.join_within(20s);
  ASSERT_EQ(report.exitcodes.size(), 1U);
  EXPECT_EQ(report.exitcodes[0], static_cast<int>(ChildExit::kNoStart));
  EXPECT_EQ(report.describe(), "child 0: never started");
}

TEST(ForkedChildren, AThrowingBodyAndASignalAreReported) {
  ForkedChildren children;
  children.spawn([]() -> int { throw std::runtime_error("boom"); });
  children.spawn([] {
    ::raise(SIGKILL);
    return ChildExit::kOk;
  });
  ASSERT_TRUE(children.start());
  const ChildrenReport report = children.join_within(20s);
  ASSERT_EQ(report.exitcodes.size(), 2U);
  EXPECT_EQ(report.exitcodes[0], mpkit::kUncaughtExceptionExit);
  EXPECT_EQ(report.exitcodes[1], -SIGKILL);
  EXPECT_EQ(mpkit::describe_exitcode(*report.exitcodes[0]), "threw");
  EXPECT_EQ(mpkit::describe_exitcode(-SIGKILL), "signal 9");
}

TEST(ForkedChildren, TheDestructorReapsChildrenNeverJoined) {
  pid_t pid = 0;
  {
    ForkedChildren children;
    children.spawn([] {
      for (;;) std::this_thread::sleep_for(1s);
      return ChildExit::kOk;
    });
    pid = children.pid(0);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(children.start());
  }
  // Reaped: the pid no longer names our child (kill fails with ESRCH, or the
  // pid was reused by a process that is not ours to wait for).
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), -1);
}

}  // namespace
