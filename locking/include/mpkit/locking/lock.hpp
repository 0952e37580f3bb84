#pragma once

// The Lock concept every lock in mpkit::locking models, the robust extension,
// and the generic entry points the experiments call.
//
// A Lock
//   - has the standard vocabulary lock() / try_lock() / unlock(), so
//     std::scoped_lock and std::unique_lock work, and a bounded acquire,
//     try_lock_until(Deadline) / try_lock_for(duration): an experiment never
//     hangs on a dead holder, whatever the lock;
//   - lives in shared memory: standard layout, no pointers, lock-free atomics
//     only, the same bytes meaning the same state at any address in any
//     process. It is neither copied nor moved; create it in place (placement
//     new in a MAP_SHARED mapping made before fork) and let children inherit
//     it. Locks with kValidAsZeroBytes are also unlocked as all-zero bytes
//     (a fresh anonymous mapping); the others need their constructor.
//   - says what it is, at compile time:
//       kName                the registry name ("tas", "pthread-robust", ...)
//       kSurvivesOwnerDeath  a holder killed inside its critical section
//                            lets the next locker in (bounded time)
//       kReportsOwnerDeath   ... and the next locker is told (kOwnerDied):
//                            the RobustLock extension below
//       kSurvivesWaiterDeath a waiter killed while it waits in lock()
//                            (queued, not holding) leaves the lock usable
//                            (false for the FIFO spin locks, ticket and MCS:
//                            its place in the queue is never handed on)
//       kExcludesThreads     threads of one process exclude each other (false
//                            only for fcntl record locks, which belong to a
//                            process: two threads of it both "get" the lock)
//       kValidAsZeroBytes    all-zero bytes are an unlocked lock
//       kSleeps              waiters sleep in the kernel (else they spin)
//
// A RobustLock (kReportsOwnerDeath) adds the exception-free outcome
// interface of mpkit::Mutex: acquire(deadline) / try_acquire() return a
// LockStatus (kOwnerDied: held, the previous owner died inside, repair then
// mark_consistent(); unlocking without it makes the lock kNotRecoverable).
// Its lock() / try_lock*() throw mpkit::OwnerDiedError with the lock HELD, or
// mpkit::NotRecoverableError (not held): the types mpkit::Mutex throws
// (MpkitMutex passes Mutex's own through; the other robust locks throw the
// subclasses LockOwnerDiedError / LockNotRecoverableError naming the lock).
//
// The free functions acquire(lock, deadline) and mark_consistent(lock) give
// every Lock the RobustLock interface (a lock that cannot report owner death
// only ever returns kAcquired or kTimedOut), so a harness is written once.
//
// Contract (every lock, unless its header says otherwise)
//   Requires: the calling thread does not hold the lock (not recursive); the
//             thread that locked unlocks (file locks and pthread mutexes
//             require it; keep to it everywhere); the object lives in memory
//             every participant maps MAP_SHARED.
//   Guarantees: lock() returns holding the lock; try_* return true holding
//             it; try_lock_until never returns false before `deadline` unless
//             the lock is not recoverable (it may return true after it).
//   Throws: file locks std::system_error when a system call fails ("flock
//             /tmp/mpkit.12.lock.ab/lock"); robust locks as above; McsLock
//             std::system_error(EAGAIN) when every queue slot belongs to a
//             live thread. Spin locks never throw.
//   Thread safety: any thread of any process, concurrently.
//
// Example
//   auto* lock = new (shared_page) mpkit::locking::TicketLock;   // before fork
//   { std::scoped_lock guard(*lock); ++shared->counter; }
//   if (!lock->try_lock_for(std::chrono::seconds(1))) report("holder stuck or dead");
//   if (mpkit::locking::acquire(*lock, deadline) == mpkit::LockStatus::kOwnerDied) {
//     repair(); mpkit::locking::mark_consistent(*lock);
//   }

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"  // deadline_in
#include "mpkit/ipc/futex.hpp"        // Clock, Deadline
#include "mpkit/ipc/mutex.hpp"        // LockStatus, OwnerDiedError, NotRecoverableError

namespace mpkit::locking {

using mpkit::Clock;
using mpkit::Deadline;
using mpkit::LockStatus;

/// Thrown by a robust lock's lock()/try_lock*() with the lock HELD: the
/// previous owner died inside its critical section. Repair the guarded data,
/// mark_consistent(), unlock(). (A std::scoped_lock that throws has not armed
/// its guard: unlock by hand.)
class LockOwnerDiedError : public mpkit::OwnerDiedError {
 public:
  LockOwnerDiedError(std::string_view lock_name, pid_t dead_owner);
  [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

/// Thrown by a robust lock (not held): a lock taken over from a dead owner
/// was unlocked without mark_consistent(); the data it guards is broken.
class LockNotRecoverableError : public mpkit::NotRecoverableError {
 public:
  explicit LockNotRecoverableError(std::string_view lock_name);
  [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

template <class L>
concept Lock = std::is_standard_layout_v<L> && !std::is_copy_constructible_v<L> &&
               !std::is_move_constructible_v<L> &&
               requires(L& lock, Deadline deadline, std::chrono::milliseconds timeout) {
                 lock.lock();
                 { lock.try_lock() } -> std::same_as<bool>;
                 { lock.unlock() } noexcept;
                 { lock.try_lock_until(deadline) } -> std::same_as<bool>;
                 { lock.try_lock_for(timeout) } -> std::same_as<bool>;
                 { L::kName } -> std::convertible_to<std::string_view>;
                 { L::kSurvivesOwnerDeath } -> std::convertible_to<bool>;
                 { L::kReportsOwnerDeath } -> std::convertible_to<bool>;
                 { L::kSurvivesWaiterDeath } -> std::convertible_to<bool>;
                 { L::kExcludesThreads } -> std::convertible_to<bool>;
                 { L::kValidAsZeroBytes } -> std::convertible_to<bool>;
                 { L::kSleeps } -> std::convertible_to<bool>;
               } && (!L::kReportsOwnerDeath || L::kSurvivesOwnerDeath);

template <class L>
concept RobustLock = Lock<L> && L::kReportsOwnerDeath &&
                     requires(L& lock, std::optional<Deadline> deadline) {
                       { lock.acquire(deadline) } -> std::same_as<LockStatus>;
                       { lock.try_acquire() } -> std::same_as<LockStatus>;
                       { lock.mark_consistent() } noexcept;
                     };

/// Blocks until `lock` is held or `deadline` (none: forever) passes:
/// kAcquired, kOwnerDied (held; RobustLock only), kTimedOut (not held) or
/// kNotRecoverable (not held; RobustLock only). Never throws for owner death.
template <Lock L>
[[nodiscard]] LockStatus acquire(L& lock, std::optional<Deadline> deadline = std::nullopt) {
  if constexpr (RobustLock<L>) {
    return lock.acquire(deadline);
  } else {
    if (!deadline) {
      lock.lock();
      return LockStatus::kAcquired;
    }
    return lock.try_lock_until(*deadline) ? LockStatus::kAcquired : LockStatus::kTimedOut;
  }
}

/// One attempt, no waiting: kAcquired, kOwnerDied, kTimedOut (busy) or
/// kNotRecoverable.
template <Lock L>
[[nodiscard]] LockStatus try_acquire(L& lock) {
  if constexpr (RobustLock<L>) {
    return lock.try_acquire();
  } else {
    return lock.try_lock() ? LockStatus::kAcquired : LockStatus::kTimedOut;
  }
}

/// After kOwnerDied and repairs; a no-op for locks that never report it.
/// Requires: the caller holds the lock.
template <Lock L>
void mark_consistent(L& lock) noexcept {
  if constexpr (RobustLock<L>) lock.mark_consistent();
}

namespace detail {

/// try_lock_for for every lock, from its try_lock_until (CRTP; an empty base,
/// so the lock stays standard layout).
template <class Derived>
class TimedLock {
 public:
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    return static_cast<Derived&>(*this).try_lock_until(mpkit::detail::deadline_in(timeout));
  }
};

}  // namespace detail
}  // namespace mpkit::locking
