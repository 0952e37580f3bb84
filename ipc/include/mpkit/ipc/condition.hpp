#pragma once

// Condition: a condition variable for mpkit::Mutex, across processes.
//
// Protocol
//   seq_, the futex word, counts notifications; sleepers_ counts the waiters
//   that are asleep, or about to be, on seq_.
//   - wait: read seq_ while still holding the mutex (A); unlock; spin ~2.5 µs
//     for seq_ to move (detail/spin.hpp); then sleepers_++ and
//     futex_wait(seq_, value read at A). The kernel compares before sleeping,
//     so a notify anywhere after A is never lost. Then sleepers_--, and
//     relock with mutex.lock() (an OwnerDiedError from it propagates).
//   - notify_one / notify_all: seq_++ (B); then, only if sleepers_ != 0,
//     FUTEX_WAKE one / all. With nobody asleep a notify is two atomic
//     operations and no system call.
//   Wake-ups may be spurious (a notify_one can release a second waiter that
//   read seq_ before it moved), so always wait with a predicate, or loop.
//   notify_all wakes every sleeper, which then queue on the mutex; there is no
//   requeue. seq_ wraps after 2^32 notifies: a waiter that sleeps through
//   exactly that many would sleep on (harmless in practice).
//   Layout: 8 bytes, one cache line; zero bytes are a valid Condition.
//
// Memory ordering: the guarded data is published by the mutex (change it
// while holding the mutex, then notify). The increments of seq_ (B) and
// sleepers_ and the load of sleepers_ are seq_cst: a notifier that reads
// sleepers_ == 0 was ordered before the waiter's increment, so the waiter's
// futex_wait sees the new seq_ and does not sleep (the Dekker pattern that
// every type in this folder uses; see ipc/README.md).
//
// Contract
//   Requires: the caller holds `mutex`; every concurrent waiter of one
//             Condition uses the same Mutex.
//   Guarantees: every wait returns holding `mutex`. wait_until/wait_for
//             return false only once the deadline has passed (signals
//             neither shorten nor lengthen it); the predicate overloads
//             return pred() as last evaluated.
//   Throws: what mutex.lock() throws while relocking: OwnerDiedError (lock
//           held) or NotRecoverableError. The caller's guard is still armed
//           when OwnerDiedError leaves the wait, and its unlock() would
//           declare the mutex not recoverable: catch OwnerDiedError INSIDE
//           the guard's scope, repair the guarded data and mark_consistent()
//           before the guard unlocks.
//   Thread safety: any thread of any process; notify without the mutex is
//           allowed but can race with a waiter's predicate check.
//
// Example
//   std::scoped_lock guard(s->mutex);                 // consumer
//   s->nonempty.wait(s->mutex, [&] { return s->items > 0; });
//   /* producer: */ { std::scoped_lock g(s->mutex); ++s->items; } s->nonempty.notify_one();

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/mutex.hpp"

namespace mpkit {

class Condition {
 public:
  constexpr Condition() noexcept = default;
  // It lives at one place in shared memory, where others find it: never
  // copied or moved. Trivially destructible: a process may just unmap it.
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;
  Condition(Condition&&) = delete;
  Condition& operator=(Condition&&) = delete;
  ~Condition() = default;

  /// Waits for a notify (or a spurious wake-up).
  void wait(Mutex& mutex) MPKIT_REQUIRES(mutex) { (void)wait_impl(mutex, std::nullopt); }

  /// Waits until pred() holds.
  template <class Pred>
  void wait(Mutex& mutex, Pred pred) MPKIT_REQUIRES(mutex) {
    while (!pred()) wait(mutex);
  }

  /// false: `deadline` passed without a notify.
  [[nodiscard]] bool wait_until(Mutex& mutex, Deadline deadline) MPKIT_REQUIRES(mutex) {
    return wait_impl(mutex, deadline);
  }
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(Mutex& mutex, const std::chrono::duration<Rep, Period>& timeout)
      MPKIT_REQUIRES(mutex) {
    return wait_until(mutex, detail::deadline_in(timeout));
  }

  /// pred(), once it holds or once `deadline` has passed.
  template <class Pred>
  [[nodiscard]] bool wait_until(Mutex& mutex, Deadline deadline, Pred pred) MPKIT_REQUIRES(mutex) {
    while (!pred()) {
      if (!wait_until(mutex, deadline)) return pred();
    }
    return true;
  }
  template <class Rep, class Period, class Pred>
  [[nodiscard]] bool wait_for(Mutex& mutex, const std::chrono::duration<Rep, Period>& timeout,
                              Pred pred) MPKIT_REQUIRES(mutex) {
    return wait_until(mutex, detail::deadline_in(timeout), std::move(pred));
  }

  void notify_one() noexcept;
  void notify_all() noexcept;

 private:
  [[nodiscard]] bool wait_impl(Mutex& mutex, std::optional<Deadline> deadline)
      MPKIT_REQUIRES(mutex);

  std::atomic<std::uint32_t> seq_{0};       // the futex word: notifications so far
  std::atomic<std::uint32_t> sleepers_{0};  // waiters parked, or about to park, on seq_
};

static_assert(std::is_standard_layout_v<Condition>,
              "Condition lives in shared memory: standard layout");
static_assert(std::is_trivially_destructible_v<Condition>,
              "a process may unmap a Condition without running anything");
static_assert(sizeof(Condition) == 8, "Condition is two 32-bit words, no padding");

}  // namespace mpkit
