#pragma once

// Deadline -> timespec for the CLOCK_MONOTONIC calls (pthread_mutex_clocklock,
// sem_clockwait): libstdc++'s steady_clock is CLOCK_MONOTONIC, so a Deadline's
// time since epoch is the absolute time those calls expect.

#include <time.h>

#include <chrono>

#include "mpkit/ipc/futex.hpp"

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

}  // namespace mpkit::locking::detail
