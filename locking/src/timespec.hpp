#pragma once

// Deadline -> timespec for the CLOCK_MONOTONIC calls (pthread_mutex_clocklock,
// sem_clockwait): libstdc++'s steady_clock is CLOCK_MONOTONIC, so a Deadline's
// time since epoch is the absolute time those calls expect.

#include <time.h>

#include <chrono>
#include <thread>

#include "mpkit/ipc/futex.hpp"

// ThreadSanitizer (GCC 12's) intercepts pthread_mutex_timedlock and
// sem_timedwait but not their CLOCK_MONOTONIC twins, so it would miss the
// acquisitions they make and report false races. Under TSan the bounded
// acquires poll the try-call instead (poll_until below).
#if defined(__SANITIZE_THREAD__)
#define MPKIT_LOCKING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPKIT_LOCKING_TSAN 1
#endif
#endif

namespace mpkit::locking::detail {

static_assert(std::chrono::steady_clock::is_steady, "Deadline must be CLOCK_MONOTONIC");

[[nodiscard]] inline timespec to_monotonic_timespec(Deadline deadline) noexcept {
  const auto since_epoch = deadline.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(seconds.count());
  ts.tv_nsec = static_cast<long>(std::chrono::nanoseconds(since_epoch - seconds).count());
  return ts;
}

/// Calls attempt() (true: acquired) until it succeeds or `deadline` passes,
/// sleeping 20 µs between tries. For the TSan build only (see above).
template <class Attempt>
[[nodiscard]] bool poll_until(Attempt&& attempt, Deadline deadline) {
  for (;;) {
    if (attempt()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

}  // namespace mpkit::locking::detail
