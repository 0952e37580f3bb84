// futex_wait / futex_wake: the outcomes of a wait, and wakes that cross
// threads and processes.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/futex.hpp"
#include "test_support.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::Shared;

TEST(FutexTest, WaitReturnsValueChangedWhenTheWordDiffers) {
  Shared<std::atomic<std::uint32_t>> word(7U);
  EXPECT_EQ(futex_wait(*word, 8), FutexWaitResult::kValueChanged);
  EXPECT_EQ(futex_wait(*word, 8, deadline_after(1s)), FutexWaitResult::kValueChanged);
}

TEST(FutexTest, WaitTimesOutAtItsDeadline) {
  Shared<std::atomic<std::uint32_t>> word(0U);
  EXPECT_EQ(futex_wait(*word, 0, Clock::now() - 1s), FutexWaitResult::kTimedOut);

  const auto start = Clock::now();
  EXPECT_EQ(futex_wait(*word, 0, start + 50ms), FutexWaitResult::kTimedOut);
  EXPECT_GE(Clock::now(), start + 50ms);
  EXPECT_LT(test::seconds_since(start), 2.05);  // loose: "not much later"
}

TEST(FutexTest, WakeWithNobodyWaitingWakesNobody) {
  Shared<std::atomic<std::uint32_t>> word(0U);
  EXPECT_EQ(futex_wake(*word, 1), 0);
  EXPECT_EQ(futex_wake_all(*word), 0);
}

TEST(FutexTest, DeadlinesSaturateInsteadOfOverflowing) {
  EXPECT_EQ(deadline_after(Clock::duration::max()), Deadline::max());
  const Deadline already_passed = deadline_after(-1s);  // now, not a second ago
  EXPECT_LE(already_passed, Clock::now());
  EXPECT_EQ(detail::deadline_in(std::chrono::hours::max()), Deadline::max());
  EXPECT_EQ(detail::deadline_in(std::chrono::duration<double>(1e300)), Deadline::max());
  const auto start = Clock::now();
  EXPECT_GE(detail::deadline_in(1500us), start + 1500us);
}

TEST(FutexThreads, WakeReleasesAWaitingThread) {
  test::Watchdog watchdog;
  Shared<std::atomic<std::uint32_t>> word(0U);
  std::atomic<pid_t> waiter_tid{0};
  std::atomic<bool> timed_out{false};
  std::thread waiter([&] {
    waiter_tid = test::this_tid();
    const Deadline deadline = deadline_after(10s);
    while (word->load() == 0) {
      if (futex_wait(*word, 0, deadline) == FutexWaitResult::kTimedOut) timed_out = true;
    }
  });
  ASSERT_TRUE(test::eventually([&] { return waiter_tid.load() != 0; }));
  ASSERT_TRUE(test::wait_until_asleep(waiter_tid));
  word->store(1);
  EXPECT_EQ(futex_wake(*word, 1), 1);  // it was asleep, so exactly one woke
  waiter.join();
  EXPECT_FALSE(timed_out);
}

struct CrossProcessWake {
  std::atomic<std::uint32_t> word{0};
  std::atomic<std::uint32_t> wakes_seen{0};
};

TEST(FutexProcesses, WakeReleasesAWaiterInAnotherProcess) {
  Shared<CrossProcessWake> shared;
  Child child([&] {
    const Deadline deadline = deadline_after(10s);
    while (shared->word.load() == 0) {
      switch (futex_wait(shared->word, 0, deadline)) {
        case FutexWaitResult::kWoken:
          shared->wakes_seen.fetch_add(1);
          break;
        case FutexWaitResult::kTimedOut:
          return 1;
        default:
          break;
      }
    }
    return 0;
  });
  // Wake without changing the word until the kernel reports a sleeper woken:
  // it can only be the child, keyed on the same shared page.
  EXPECT_TRUE(test::eventually([&] { return futex_wake(shared->word, 1) == 1; }));
  shared->word.store(1);
  futex_wake_all(shared->word);
  EXPECT_EQ(child.join(), test::ExitStatus::exited(0));
  EXPECT_GE(shared->wakes_seen.load(), 1U);
}

TEST(FutexThreads, SignalsInterruptAWaitButDoNotMoveItsDeadline) {
  test::Watchdog watchdog;
  test::Sigusr1Handler handler;
  Shared<std::atomic<std::uint32_t>> word(0U);
  std::atomic<int> interrupted{0};
  std::atomic<bool> done{false};
  const auto start = Clock::now();
  const Deadline deadline = start + 300ms;
  std::thread waiter([&] {
    for (;;) {
      const FutexWaitResult result = futex_wait(*word, 0, deadline);
      if (result == FutexWaitResult::kInterrupted) {
        interrupted.fetch_add(1);
        continue;  // same absolute deadline
      }
      if (result == FutexWaitResult::kTimedOut) break;
    }
    done = true;
  });
  while (!done.load()) test::pester_thread(waiter.native_handle(), 1, 2ms);
  waiter.join();
  EXPECT_GE(Clock::now(), deadline);
  EXPECT_LT(test::seconds_since(start), 2.3);
  EXPECT_GT(interrupted.load(), 0);
}

}  // namespace
}  // namespace mpkit
