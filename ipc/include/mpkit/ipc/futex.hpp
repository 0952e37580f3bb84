#pragma once

// Futex: sleep and wake on a 32-bit word that several processes share.
//
// Why not std::atomic<T>::wait/notify: libstdc++ implements them with
// FUTEX_PRIVATE_FLAG (and, for most T, a process-local table of waiters), so
// a notify in one process never wakes a waiter in another (ARCHITECTURE.md rule 1,
// checked on this machine). These functions issue futex(2) without the
// private flag, keyed by the physical page, so they work on any MAP_SHARED
// mapping, at any address in each process.
//
// Contract
//   Requires: `word` lies in memory every participant maps MAP_SHARED (or is
//             process-local, for threads); 4-byte aligned.
//   Guarantees: futex_wait returns kWoken only after a futex_wake on the same
//             word or spuriously (callers always re-check their condition);
//             kValueChanged if *word != expected when the kernel checked it;
//             kTimedOut once `deadline` (CLOCK_MONOTONIC) has passed. A signal
//             handler interrupting the wait gives kInterrupted: the caller
//             re-checks and waits again with the same absolute deadline, so
//             signals never lengthen or shorten a timed wait.
//   Thread safety: any thread of any process, concurrently.
//
// Example
//   std::atomic<std::uint32_t>& ready = ...;          // in shared memory
//   while (ready.load(std::memory_order_acquire) == 0)
//     mpkit::futex_wait(ready, 0);
//   // elsewhere: ready.store(1, std::memory_order_release); mpkit::futex_wake_all(ready);

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace mpkit {

static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "a futex word must be a lock-free 32-bit atomic");
static_assert(sizeof(std::atomic<std::uint32_t>) == 4,
              "the kernel reads the futex word as a plain 32-bit integer");

/// Absolute deadlines for every blocking call in mpkit.
using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

enum class FutexWaitResult {
  kWoken,         ///< a wake arrived (or a spurious wake-up): re-check
  kValueChanged,  ///< *word != expected when the kernel looked
  kTimedOut,      ///< the deadline passed
  kInterrupted,   ///< a signal handler ran: re-check and wait again
};

/// Sleeps while *word == expected, until woken or `deadline` (none: forever).
FutexWaitResult futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                           std::optional<Deadline> deadline = std::nullopt) noexcept;

/// Wakes up to `count` waiters on `word`; returns how many were woken.
int futex_wake(std::atomic<std::uint32_t>& word, int count) noexcept;

/// Wakes every waiter on `word`; returns how many were woken.
int futex_wake_all(std::atomic<std::uint32_t>& word) noexcept;

/// `timeout` from now as a Deadline, saturating instead of overflowing.
[[nodiscard]] Deadline deadline_after(Clock::duration timeout) noexcept;

}  // namespace mpkit
