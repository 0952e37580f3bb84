#pragma once

// The bounded acquire of the locks that cannot wait with a deadline
// themselves (the spin locks, and file locks through their non-blocking
// calls): poll an attempt until it succeeds or the deadline passes.
//
// Why the clock is read only every kPollsPerClockRead attempts: a clock read
// costs ~22 ns here, ten times a TAS attempt. Why the poller yields at each
// clock read: a bounded acquire is the path of a waiter that may be
// oversubscribed (more spinners than cores); without a yield, the holder it
// waits for may not get a core until the scheduler's tick.

#include <cstdint>
#include <thread>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/futex.hpp"

namespace mpkit::locking::detail {

inline constexpr std::uint32_t kPollsPerClockRead = 64;
/// Most pauses between two attempts (exponential backoff up to this).
inline constexpr std::uint32_t kMaxPollGap = 16;

/// Calls `attempt()` until it returns true (true) or `deadline` has passed
/// (false). At least one attempt is made, even with a deadline in the past.
/// The first failure reads the clock, later ones every kPollsPerClockRead.
template <class Attempt>
[[nodiscard]] bool spin_poll_until(Attempt&& attempt, Deadline deadline) noexcept(
    noexcept(attempt())) {
  std::uint32_t gap = 1;
  for (std::uint32_t polls = 1;; ++polls) {
    if (attempt()) return true;
    if (polls == 1 || polls % kPollsPerClockRead == 0) {  // 1: a past deadline fails at once
      if (Clock::now() >= deadline) return false;
      std::this_thread::yield();
    }
    for (std::uint32_t i = 0; i < gap; ++i) mpkit::detail::cpu_relax();
    if (gap < kMaxPollGap) gap *= 2;
  }
}

}  // namespace mpkit::locking::detail
