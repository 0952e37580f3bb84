#pragma once

// One harness for "a waiter survives signals", shared by the Condition,
// Semaphore, Event and Barrier tests.
//
// A SIGUSR1 handler installed without SA_RESTART makes a futex wait fail with
// EINTR. A correct primitive then re-checks and waits again with the same
// absolute deadline: it is neither released early nor held past its deadline.
// Each helper takes the wait as a callable returning true when released
// (false on time-out), so every primitive plugs in with a one-line lambda.

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace mpkit::test {

/// The timed waits below run for this long and must return false no earlier.
inline constexpr auto kSignalledTimeout = std::chrono::milliseconds(300);
/// ... and no later than this (a loose bound: the machine is noisy).
inline constexpr double kSignalledTimeoutCeilingSeconds = 2.3;

/// A thread blocks in `wait`; once it sleeps in futex_wait it is hit by
/// SIGUSR1 50 times, then `release` runs. The wait must end released.
template <class Wait, class Release>
void expect_thread_wait_survives_signals(Wait wait, Release release) {
  Watchdog watchdog;
  Sigusr1Handler handler;
  std::atomic<pid_t> tid{0};
  bool released = false;
  std::thread waiter([&] {
    tid = this_tid();
    released = wait();
  });
  const bool asleep = eventually([&] { return tid.load() != 0; }) && wait_until_asleep(tid);
  if (asleep) pester_thread(waiter.native_handle());
  release();
  waiter.join();
  EXPECT_TRUE(asleep) << "the waiter never slept in futex_wait";
  EXPECT_TRUE(released);
  EXPECT_GT(g_sigusr1_count.load(), 0);
}

/// A thread runs `timed_wait` (kSignalledTimeout, never released) while
/// SIGUSR1 hits it every 2 ms: it must time out, at its deadline.
template <class TimedWait>
void expect_thread_timed_wait_survives_signals(TimedWait timed_wait) {
  Watchdog watchdog;
  Sigusr1Handler handler;
  std::atomic<bool> done{false};
  bool released = true;
  double seconds = 0;
  std::thread waiter([&] {
    const auto start = std::chrono::steady_clock::now();
    released = timed_wait();
    seconds = seconds_since(start);
    done = true;
  });
  while (!done.load()) pester_thread(waiter.native_handle(), 1, std::chrono::milliseconds(2));
  waiter.join();
  EXPECT_FALSE(released);
  EXPECT_GE(seconds, std::chrono::duration<double>(kSignalledTimeout).count());
  EXPECT_LT(seconds, kSignalledTimeoutCeilingSeconds);
  EXPECT_GT(g_sigusr1_count.load(), 0);
}

/// The same across processes: a forked child blocks in `wait` (its memory
/// shared with us), is hit by SIGUSR1 once asleep, and `release` runs here.
template <class Wait, class Release>
void expect_child_wait_survives_signals(Wait wait, Release release) {
  Sigusr1Handler handler;  // installed before fork: the child inherits it
  Child child([&] {
    if (!wait()) return 1;
    return g_sigusr1_count.load() > 0 ? 0 : 2;  // 2: no signal reached the wait
  });
  ASSERT_TRUE(wait_until_asleep(child.pid()));
  pester_process(child.pid());
  release();
  EXPECT_EQ(child.join(), ExitStatus::exited(0));
}

/// A forked child runs `timed_wait` (kSignalledTimeout, never released) under
/// SIGUSR1 every 2 ms; it exits 0 only if it timed out at its deadline.
template <class TimedWait>
void expect_child_timed_wait_survives_signals(TimedWait timed_wait) {
  Sigusr1Handler handler;
  Child child([&] {
    const auto start = std::chrono::steady_clock::now();
    if (timed_wait()) return 1;
    const double seconds = seconds_since(start);
    const double floor = std::chrono::duration<double>(kSignalledTimeout).count();
    return seconds >= floor && seconds < kSignalledTimeoutCeilingSeconds ? 0 : 2;
  });
  for (int i = 0; i < 100; ++i) pester_process(child.pid(), 1, std::chrono::milliseconds(2));
  EXPECT_EQ(child.join(), ExitStatus::exited(0));
}

}  // namespace mpkit::test
