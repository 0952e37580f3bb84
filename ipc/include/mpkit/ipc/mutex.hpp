#pragma once

// Mutex: a robust lock for threads of several processes, on one futex word.
//
// Protocol
//   word_, the futex word, says who holds the lock:
//     bits 0..29  owner pid (0: free; kPoisonedOwner: not recoverable)
//     bit  30     reserved, always 0
//     bit  31     kWaitersBit: somebody may be asleep on the word
//   - lock: one CAS 0 -> pid (acquire). If that fails, spin ~2.5 µs for the
//     word to become 0, polling less and less often so as not to slow the
//     holder (detail/spin.hpp); then set kWaitersBit and futex_wait
//     on the word in slices of at most kOwnerCheckInterval. A waiter that
//     slept takes a free word as pid|kWaitersBit, because other sleepers may
//     remain (Drepper, "Futexes Are Tricky", mutex3).
//   - unlock: exchange(0, release); FUTEX_WAKE one waiter only if kWaitersBit
//     was set, so an uncontended lock+unlock makes no system call.
//   - owner death: a waiter that has seen the same word for a whole slice asks
//     process_is_gone(owner) (one /proc read). If the owner is gone, it CASes
//     from exactly that word to its own pid: one waiter wins and gets
//     kOwnerDied; the others see a new owner and keep waiting. A thread polling
//     with try_lock, or with bounded acquires shorter than a slice
//     (try_lock_for(200us), acquire(now + 500us)), gets the same check once
//     its attempts have failed against the same owner for a whole slice: the
//     watch (mutex, owner word, since when) is kept per thread across calls.
//   consistency_ belongs to whoever holds the lock: kConsistent, or
//     kInconsistent from a takeover until mark_consistent(). unlock() of an
//     inconsistent mutex stores kNotRecoverable and parks word_ at
//     kPoisonedOwner for good, waking every waiter; from then on every lock
//     attempt returns kNotRecoverable (pthread's ENOTRECOVERABLE).
//   Limits, on purpose (we do not use the kernel's robust list, which glibc
//     owns): a dead owner is found within ~1 ms plus one /proc read; only the
//     death of a process is detected, not of a thread in a living process; if
//     the dead owner's pid is reused before a waiter looks, the lock looks
//     held by the new process (rare: pids are handed out cyclically). The
//     owner is a process, so the lock is not recursive and any thread of the
//     owning process could unlock it (don't).
//   Layout: 8 bytes, both words in one cache line (the holder touches both).
//     Give a heavily contended Mutex a 64-byte line of its own, so spinning
//     waiters do not pull away the line of the data it guards.
//
// Memory ordering: the CAS that takes the word is acquire and the exchange
// that frees it is release, so the next holder sees everything the previous
// one wrote; a dead owner released nothing, which is why the winner of a
// takeover must repair the guarded data before mark_consistent().
//
// Contract (lock, try_lock, try_lock_for/until)
//   Requires: the calling thread does not hold the mutex (not recursive);
//             the object lives in memory every participant maps MAP_SHARED,
//             zero-filled or constructed.
//   Guarantees: lock() returns holding the lock; try_* return true holding it.
//   Throws: OwnerDiedError with the lock HELD: repair, mark_consistent(),
//           unlock(). (A std::scoped_lock constructor that throws has not
//           armed its guard: unlock by hand.) NotRecoverableError, lock not
//           held. acquire()/try_acquire() report the same as LockStatus.
//   Thread safety: any thread of any process, concurrently.
//
// Example
//   auto* m = new (shared_page) mpkit::Mutex;         // or zero-filled memory
//   { std::scoped_lock guard(*m); ++shared->counter; }
//   if (m->acquire() == mpkit::LockStatus::kOwnerDied) { repair(); m->mark_consistent(); }

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/this_process.hpp"
#include "mpkit/ipc/thread_annotations.hpp"

namespace mpkit {

enum class LockStatus {
  kAcquired,        ///< the lock is held, the guarded data is consistent
  kOwnerDied,       ///< the lock is held; the previous owner died holding it
  kTimedOut,        ///< the lock is not held: busy until the deadline
  kNotRecoverable,  ///< the lock is not held and never will be again
};

/// Thrown by lock/try_lock with the lock HELD: the previous owner died.
class OwnerDiedError : public std::runtime_error {
 public:
  explicit OwnerDiedError(pid_t dead_owner);
  [[nodiscard]] pid_t dead_owner() const noexcept { return dead_owner_; }

 private:
  pid_t dead_owner_;
};

/// Thrown by lock/try_lock (lock not held): a taken-over mutex was unlocked
/// without mark_consistent(), so the data it guards is declared broken.
class NotRecoverableError : public std::runtime_error {
 public:
  NotRecoverableError();
};

class MPKIT_CAPABILITY("mutex") Mutex {
 public:
  /// How long a waiter watches one owner before it checks the owner is alive.
  static constexpr std::chrono::milliseconds kOwnerCheckInterval{1};

  /// Unlocked and consistent; so is an all-zero object.
  constexpr Mutex() noexcept = default;
  // It lives at one place in shared memory, where others find it: never
  // copied or moved. Trivially destructible: a process may just unmap it.
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  Mutex(Mutex&&) = delete;
  Mutex& operator=(Mutex&&) = delete;
  ~Mutex() = default;

  void lock() MPKIT_ACQUIRE();
  [[nodiscard]] bool try_lock() MPKIT_TRY_ACQUIRE(true);
  template <class Rep, class Period>
  [[nodiscard]] bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout)
      MPKIT_TRY_ACQUIRE(true) MPKIT_NO_THREAD_SAFETY_ANALYSIS {
    return try_lock_until(detail::deadline_in(timeout));
  }
  [[nodiscard]] bool try_lock_until(Deadline deadline) MPKIT_TRY_ACQUIRE(true);

  /// Requires: the caller holds the lock. After kOwnerDied without
  /// mark_consistent(), the mutex becomes not recoverable.
  void unlock() noexcept MPKIT_RELEASE();

  /// The exception-free entry point: blocks until the lock is held (kAcquired,
  /// kOwnerDied), `deadline` passes (kTimedOut) or kNotRecoverable.
  [[nodiscard]] LockStatus acquire(std::optional<Deadline> deadline = std::nullopt) noexcept;
  /// One attempt, no sleeping: kTimedOut means busy.
  [[nodiscard]] LockStatus try_acquire() noexcept;

  /// After kOwnerDied and repairs: the data is consistent again.
  /// Requires: the caller holds the lock. A no-op on a consistent mutex.
  void mark_consistent() noexcept;

  /// The pid holding the lock, 0 if free or not recoverable. A snapshot.
  [[nodiscard]] pid_t owner_guess() const noexcept;

 private:
  static constexpr std::uint32_t kPidMask = 0x3FFF'FFFFU;
  static constexpr std::uint32_t kWaitersBit = 0x8000'0000U;
  // No pid is that large (PID_MAX_LIMIT is 2^22), so it cannot be an owner.
  static constexpr std::uint32_t kPoisonedOwner = kPidMask;

  enum Consistency : std::uint32_t { kConsistent = 0, kInconsistent = 1, kNotRecoverable = 2 };

  [[nodiscard]] bool try_lock_fast() noexcept;
  void lock_slow();
  [[nodiscard]] bool try_lock_slow();
  [[nodiscard]] LockStatus acquire_slow(std::optional<Deadline> deadline, pid_t& dead_owner) noexcept;
  [[nodiscard]] LockStatus try_acquire_slow(pid_t& dead_owner) noexcept;
  [[nodiscard]] bool take_over_if_owner_gone(std::uint32_t observed, std::uint32_t replacement,
                                             pid_t& dead_owner) noexcept;
  void unlock_not_consistent() noexcept;

  std::atomic<std::uint32_t> word_{0};         // the futex word: owner | kWaitersBit
  std::atomic<std::uint32_t> consistency_{0};  // a Consistency; written by the holder only
};

static_assert(std::is_standard_layout_v<Mutex>, "Mutex lives in shared memory: standard layout");
static_assert(std::is_trivially_destructible_v<Mutex>,
              "a process may unmap a Mutex without running anything");
static_assert(sizeof(Mutex) == 8, "Mutex is two 32-bit words, no padding");
static_assert(alignof(Mutex) == 4, "the futex word must be 4-byte aligned");

/// A scoped guard for Mutex that clang's -Wthread-safety understands
/// (std::scoped_lock works as well but is not annotated).
/// Throws: what Mutex::lock() throws; OwnerDiedError leaves the lock held and
/// the guard not armed, as with std::scoped_lock.
class MPKIT_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) MPKIT_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  ~MutexLock() MPKIT_RELEASE() { mutex_.unlock(); }

 private:
  Mutex& mutex_;
};

// ---- fast paths, inline: one CAS to lock, one exchange to unlock ----------

inline bool Mutex::try_lock_fast() noexcept {
  std::uint32_t expected = 0;
  // acquire: pairs with unlock()'s release. relaxed on failure: the slow
  // paths reload the word.
  return word_.compare_exchange_strong(expected, static_cast<std::uint32_t>(current_pid()),
                                       std::memory_order_acquire, std::memory_order_relaxed);
}

inline void Mutex::lock() MPKIT_NO_THREAD_SAFETY_ANALYSIS {
  if (!try_lock_fast()) [[unlikely]] {
    lock_slow();
  }
}

inline bool Mutex::try_lock() MPKIT_NO_THREAD_SAFETY_ANALYSIS {
  return try_lock_fast() || try_lock_slow();
}

inline void Mutex::unlock() noexcept MPKIT_NO_THREAD_SAFETY_ANALYSIS {
  // relaxed: only the holder writes consistency_, and we are the holder.
  if (consistency_.load(std::memory_order_relaxed) != kConsistent) [[unlikely]] {
    unlock_not_consistent();
    return;
  }
  // release: publishes the critical section to the next holder's acquire CAS.
  const std::uint32_t previous = word_.exchange(0, std::memory_order_release);
  if ((previous & kWaitersBit) != 0) [[unlikely]] {
    futex_wake(word_, 1);
  }
}

inline LockStatus Mutex::acquire(std::optional<Deadline> deadline) noexcept {
  if (try_lock_fast()) return LockStatus::kAcquired;
  pid_t dead_owner = 0;
  return acquire_slow(deadline, dead_owner);
}

inline LockStatus Mutex::try_acquire() noexcept {
  if (try_lock_fast()) return LockStatus::kAcquired;
  pid_t dead_owner = 0;
  return try_acquire_slow(dead_owner);
}

inline void Mutex::mark_consistent() noexcept {
  // relaxed: only the holder writes consistency_; unlock()'s release
  // publishes the new value to the next holder.
  if (consistency_.load(std::memory_order_relaxed) == kInconsistent) {
    consistency_.store(kConsistent, std::memory_order_relaxed);
  }
}

inline pid_t Mutex::owner_guess() const noexcept {
  // relaxed: a snapshot for diagnostics, ordered with nothing.
  const std::uint32_t owner = word_.load(std::memory_order_relaxed) & kPidMask;
  return owner == kPoisonedOwner ? 0 : static_cast<pid_t>(owner);
}

}  // namespace mpkit
