// Event: lifecycle, the set/clear pulse, ping-pong in lockstep (threads and
// processes), time-outs and signals.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "mpkit/ipc/event.hpp"
#include "signal_survival.hpp"
#include "test_support.hpp"

namespace mpkit {
namespace {

using namespace std::chrono_literals;
using test::Child;
using test::ExitStatus;
using test::Shared;

struct Flagged {
  Event event;
  std::atomic<pid_t> waiter_tid{0};
};

// ---- lifecycle --------------------------------------------------------------

TEST(EventTest, ZeroBytesAreAClearEvent) {
  Shared<Event> event(test::kZeroFilled);
  EXPECT_FALSE(event->is_set());
  event->set();
  EXPECT_TRUE(event->is_set());
  event->set();  // idempotent
  EXPECT_TRUE(event->is_set());
  event->wait();  // returns at once
  EXPECT_TRUE(event->wait_for(0s));
  event->clear();
  EXPECT_FALSE(event->is_set());
  event->clear();  // idempotent
  EXPECT_FALSE(event->is_set());
}

TEST(EventTest, WaitForTimesOutAtItsDeadlineWhenNeverSet) {
  Shared<Event> event;
  const auto start = Clock::now();
  EXPECT_FALSE(event->wait_for(50ms));
  EXPECT_GE(Clock::now(), start + 50ms);
  EXPECT_LT(test::seconds_since(start), 2.05);
  EXPECT_FALSE(event->wait_until(Clock::now() - 1s));
}

TEST(EventThreads, SetThenClearStillReleasesAWaiterAlreadyAsleep) {
  test::Watchdog watchdog;
  Shared<Flagged> shared;
  bool released = false;
  std::thread waiter([&] {
    shared->waiter_tid = test::this_tid();
    released = shared->event.wait_for(10s);
  });
  ASSERT_TRUE(test::eventually([&] { return shared->waiter_tid.load() != 0; }));
  ASSERT_TRUE(test::wait_until_asleep(shared->waiter_tid));
  shared->event.set();
  shared->event.clear();  // a pulse: the waiter saw the set, Python's semantics
  waiter.join();
  EXPECT_TRUE(released);
  EXPECT_FALSE(shared->event.is_set());
}

TEST(EventThreads, SetWakesEveryWaiter) {
  test::Watchdog watchdog;
  constexpr int kWaiters = 4;
  Shared<Event> event;
  std::atomic<int> released{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      if (event->wait_for(10s)) ++released;
    });
  }
  event->set();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(released.load(), kWaiters);
}

// ---- ping-pong: two parties strictly alternate on a non-atomic counter ------

constexpr std::uint32_t kRounds = 5'000;

struct PingPong {
  Event ping;
  Event pong;
  std::uint32_t counter = 0;  // handed back and forth by the events
};

// Returns 0, 1 on a time-out, 2 if the counter shows the turns overlapped.
int ping_side(PingPong& pp) {
  for (std::uint32_t round = 0; round < kRounds; ++round) {
    if (pp.counter != 2 * round) return 2;
    ++pp.counter;
    pp.ping.set();
    if (!pp.pong.wait_for(10s)) return 1;
    pp.pong.clear();
  }
  return 0;
}

int pong_side(PingPong& pp) {
  for (std::uint32_t round = 0; round < kRounds; ++round) {
    if (!pp.ping.wait_for(10s)) return 1;
    pp.ping.clear();
    if (pp.counter != 2 * round + 1) return 2;
    ++pp.counter;
    pp.pong.set();
  }
  return 0;
}

TEST(EventThreads, PingPongStaysInLockstep) {
  test::Watchdog watchdog;
  Shared<PingPong> pp;
  int pong_result = -1;
  std::thread pong([&] { pong_result = pong_side(*pp); });
  EXPECT_EQ(ping_side(*pp), 0);
  pong.join();
  EXPECT_EQ(pong_result, 0);
  EXPECT_EQ(pp->counter, 2 * kRounds);
}

TEST(EventProcesses, PingPongStaysInLockstep) {
  Shared<PingPong> pp;
  Child pong([&] { return pong_side(*pp); });
  EXPECT_EQ(ping_side(*pp), 0);
  EXPECT_EQ(pong.join(), ExitStatus::exited(0));
  EXPECT_EQ(pp->counter, 2 * kRounds);
}

// ---- signals ------------------------------------------------------------------

TEST(EventThreads, WaiterSurvivesSignalsThenWakesOnSet) {
  Shared<Flagged> shared;
  test::expect_thread_wait_survives_signals([&] { return shared->event.wait_for(10s); },
                                            [&] { shared->event.set(); });
}

TEST(EventThreads, WaiterSurvivesSignalsThenTimesOutAtItsDeadline) {
  Shared<Flagged> shared;
  test::expect_thread_timed_wait_survives_signals(
      [&] { return shared->event.wait_for(test::kSignalledTimeout); });
}

TEST(EventProcesses, WaiterInAChildSurvivesSignalsThenWakesOnSet) {
  Shared<Flagged> shared;
  test::expect_child_wait_survives_signals([&] { return shared->event.wait_for(10s); },
                                           [&] { shared->event.set(); });
}

TEST(EventProcesses, WaiterInAChildTimesOutAtItsDeadlineUnderSignals) {
  Shared<Flagged> shared;
  test::expect_child_timed_wait_survives_signals(
      [&] { return shared->event.wait_for(test::kSignalledTimeout); });
}

}  // namespace
}  // namespace mpkit
