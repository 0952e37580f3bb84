#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>

#include "mpkit/ipc/futex.hpp"

namespace mpkit {
namespace {

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value,
           const timespec* timeout, std::uint32_t value3) noexcept {
  // The kernel reads the word as a u32; std::atomic<uint32_t> has the same
  // size and representation (static_asserts in the header).
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value,
                   timeout, nullptr, value3);
}

// steady_clock is CLOCK_MONOTONIC in libstdc++, which is what
// FUTEX_WAIT_BITSET measures absolute timeouts against.
timespec to_monotonic_timespec(Deadline deadline) noexcept {
  const auto since_epoch = deadline.time_since_epoch();
  if (since_epoch.count() <= 0) return timespec{0, 0};
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto nsecs = std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs);
  return timespec{static_cast<time_t>(secs.count()), static_cast<long>(nsecs.count())};
}

}  // namespace

FutexWaitResult futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                           std::optional<Deadline> deadline) noexcept {
  timespec abs_timeout{};
  const timespec* timeout = nullptr;
  if (deadline) {
    abs_timeout = to_monotonic_timespec(*deadline);
    timeout = &abs_timeout;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a wait
  // restarted after EINTR keeps the caller's original deadline.
  if (futex(word, FUTEX_WAIT_BITSET, expected, timeout, FUTEX_BITSET_MATCH_ANY) == 0) {
    return FutexWaitResult::kWoken;
  }
  switch (errno) {
    case EAGAIN:
      return FutexWaitResult::kValueChanged;
    case ETIMEDOUT:
      return FutexWaitResult::kTimedOut;
    case EINTR:
      return FutexWaitResult::kInterrupted;
    default:
      // EFAULT/EINVAL mean a bad address or a misaligned word: a programming
      // error. Report it as a wake so the caller re-checks rather than spins
      // silently in a sleep that never happens.
      return FutexWaitResult::kWoken;
  }
}

int futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept {
  const long woken = futex(word, FUTEX_WAKE, static_cast<std::uint32_t>(count), nullptr, 0);
  return woken < 0 ? 0 : static_cast<int>(woken);
}

int futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  return futex_wake(word, INT_MAX);
}

Deadline deadline_after(Clock::duration timeout) noexcept {
  const auto now = Clock::now();
  if (timeout <= Clock::duration::zero()) return now;
  if (timeout > Deadline::max() - now) return Deadline::max();
  return now + timeout;
}

}  // namespace mpkit
