#pragma once

// PthreadLock and RobustPthreadLock: glibc's pthread_mutex_t, process-shared
// (PTHREAD_PROCESS_SHARED), the second also PTHREAD_MUTEX_ROBUST.
//
// Protocol: glibc's, on one futex word inside pthread_mutex_t: lock is a CAS
// 0 -> tid (robust: the word is the owner's tid and the kernel's robust list
// marks it FUTEX_OWNER_DIED when the owner thread exits); a waiter sets a
// waiters flag and sleeps in futex(2); unlock wakes one if the flag was set.
// The bounded acquire is pthread_mutex_clocklock(CLOCK_MONOTONIC), the clock
// of mpkit's Deadline (under ThreadSanitizer, which does not intercept it,
// a trylock poll instead). Hot paths are inline calls into libc.
//
// Owner death
//   PthreadLock: a killed holder leaves the word owned for ever; lock()
//     blocks for ever, try_lock_until returns false at its deadline.
//   RobustPthreadLock: the kernel releases the word when the holder dies;
//     the next locker gets EOWNERDEAD holding the lock, reported as
//     kOwnerDied (acquire/try_acquire) or LockOwnerDiedError (lock,
//     try_lock*) naming the dead owner's pid. Policy, as mpkit::Mutex: the
//     new holder repairs the data and calls mark_consistent()
//     (pthread_mutex_consistent); unlocking without it makes the mutex
//     ENOTRECOVERABLE for good (kNotRecoverable / LockNotRecoverableError).
//     The dead owner's pid comes from owner_, a word each holder writes
//     (relaxed) right after it acquires: one extra store per lock; a holder
//     killed between its acquire and that store is reported under its
//     predecessor's pid.
//     state_ mirrors the policy (consistent / inconsistent / not
//     recoverable), so that a poisoned mutex is answered without calling
//     pthread at all: glibc 2.36's pthread_mutex_trylock returns
//     ENOTRECOVERABLE but leaves the word locked by the caller (it tests the
//     CAS's old value, 0, against its own tid), after which every attempt
//     would block or fail with EBUSY for ever. One relaxed load per lock
//     and per unlock; a trylock racing with the poisoning unlock can still
//     meet that bug (lock() waiters then wait; bounded acquires time out).
//
// Lifecycle: the constructor initialises the mutex (all-zero bytes are a
// process-private mutex, not this one: kValidAsZeroBytes = false) and throws
// std::system_error("pthread_mutex_init") on failure. No destructor runs:
// pthread_mutex_destroy releases nothing on Linux, so the mapping may simply
// go away, as for every mpkit shared-memory type. Layout: 40 bytes (48 with
// owner_); give a contended one its own cache line.
//
// Memory ordering: glibc's lock CAS is acquire and its unlock release; the
// owner_ word is relaxed (a report, read by the next holder after its
// acquire, ordered by the mutex itself).

#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/this_process.hpp"
#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {

class PthreadLock : public detail::TimedLock<PthreadLock> {
 public:
  static constexpr std::string_view kName = "pthread";
  static constexpr bool kSurvivesOwnerDeath = false;
  static constexpr bool kSurvivesWaiterDeath = true;  // a waiter sleeps in the kernel, holding nothing
  static constexpr bool kReportsOwnerDeath = false;
  static constexpr bool kExcludesThreads = true;
  static constexpr bool kValidAsZeroBytes = false;
  static constexpr bool kSleeps = true;

  PthreadLock();
  PthreadLock(const PthreadLock&) = delete;
  PthreadLock& operator=(const PthreadLock&) = delete;
  PthreadLock(PthreadLock&&) = delete;
  PthreadLock& operator=(PthreadLock&&) = delete;
  ~PthreadLock() = default;

  void lock() {
    if (const int rc = ::pthread_mutex_lock(&mutex_); rc != 0) [[unlikely]] {
      throw_system_error(rc, "pthread_mutex_lock");
    }
  }
  [[nodiscard]] bool try_lock() {
    const int rc = ::pthread_mutex_trylock(&mutex_);
    if (rc == 0) [[likely]] return true;
    if (rc != EBUSY) throw_system_error(rc, "pthread_mutex_trylock");
    return false;
  }
  [[nodiscard]] bool try_lock_until(Deadline deadline);
  void unlock() noexcept { (void)::pthread_mutex_unlock(&mutex_); }

 private:
  pthread_mutex_t mutex_;
};

class RobustPthreadLock : public detail::TimedLock<RobustPthreadLock> {
 public:
  static constexpr std::string_view kName = "pthread-robust";
  static constexpr bool kSurvivesOwnerDeath = true;
  static constexpr bool kSurvivesWaiterDeath = true;  // as PthreadLock
  static constexpr bool kReportsOwnerDeath = true;
  static constexpr bool kExcludesThreads = true;
  static constexpr bool kValidAsZeroBytes = false;
  static constexpr bool kSleeps = true;

  RobustPthreadLock();
  RobustPthreadLock(const RobustPthreadLock&) = delete;
  RobustPthreadLock& operator=(const RobustPthreadLock&) = delete;
  RobustPthreadLock(RobustPthreadLock&&) = delete;
  RobustPthreadLock& operator=(RobustPthreadLock&&) = delete;
  ~RobustPthreadLock() = default;

  /// Throws: LockOwnerDiedError (held), LockNotRecoverableError (not held),
  /// std::system_error for any other pthread error.
  void lock() {
    if (poisoned()) [[unlikely]] (void)throw_unless_acquired(LockStatus::kNotRecoverable);
    const int rc = ::pthread_mutex_lock(&mutex_);
    if (rc == 0) [[likely]] {
      note_owner();
      return;
    }
    (void)throw_unless_acquired(settle(rc, "pthread_mutex_lock"));
  }
  [[nodiscard]] bool try_lock() {
    if (poisoned()) [[unlikely]] return throw_unless_acquired(LockStatus::kNotRecoverable);
    const int rc = ::pthread_mutex_trylock(&mutex_);
    if (rc == 0) [[likely]] {
      note_owner();
      return true;
    }
    return throw_unless_acquired(settle(rc, "pthread_mutex_trylock"));
  }
  [[nodiscard]] bool try_lock_until(Deadline deadline) {
    return throw_unless_acquired(acquire(deadline));
  }
  /// After kOwnerDied without mark_consistent(): the mutex becomes not
  /// recoverable (glibc's, and state_ says so first).
  void unlock() noexcept {
    // relaxed: only the holder writes state_ while it is not kNotRecoverable.
    if (state_.load(std::memory_order_relaxed) == kInconsistent) [[unlikely]] {
      state_.store(kNotRecoverable, std::memory_order_relaxed);  // relaxed: a verdict, no data
    }
    (void)::pthread_mutex_unlock(&mutex_);
  }

  /// kAcquired, kOwnerDied (held), kTimedOut, kNotRecoverable; blocks until
  /// `deadline` (none: forever). Throws std::system_error only for pthread
  /// errors that are bugs (EINVAL, EDEADLK).
  [[nodiscard]] LockStatus acquire(std::optional<Deadline> deadline = std::nullopt);
  /// One attempt: kTimedOut means busy.
  [[nodiscard]] LockStatus try_acquire() {
    if (poisoned()) [[unlikely]] return LockStatus::kNotRecoverable;
    const int rc = ::pthread_mutex_trylock(&mutex_);
    if (rc == 0) [[likely]] {
      note_owner();
      return LockStatus::kAcquired;
    }
    return settle(rc, "pthread_mutex_trylock");
  }
  /// After kOwnerDied and repairs. Requires: the caller holds the lock.
  void mark_consistent() noexcept;

  /// The pid of the last process that acquired the lock (a report, 0 never).
  [[nodiscard]] pid_t last_owner_guess() const noexcept {
    return owner_.load(std::memory_order_relaxed);  // relaxed: a snapshot
  }

 private:
  enum : std::uint32_t { kConsistent = 0, kInconsistent = 1, kNotRecoverable = 2 };

  [[nodiscard]] bool poisoned() const noexcept {
    return state_.load(std::memory_order_relaxed) == kNotRecoverable;  // relaxed: a verdict, no data
  }
  void note_owner() noexcept {
    // relaxed: read by the next holder after its acquire (see file comment).
    owner_.store(current_pid(), std::memory_order_relaxed);
  }
  // Maps a non-zero pthread result to a status (EOWNERDEAD: remembers the
  // dead owner in dead_owner_); throws std::system_error for bugs.
  LockStatus settle(int rc, const char* call);
  // true for kAcquired; false for kTimedOut; throws for the other two.
  bool throw_unless_acquired(LockStatus status);

  pthread_mutex_t mutex_;
  std::atomic<pid_t> owner_{0};  // last acquirer; written by the holder
  std::atomic<std::uint32_t> state_{kConsistent};  // the policy's state; written by the holder
  pid_t dead_owner_ = 0;         // set with kOwnerDied, read by the holder; guarded by mutex_
};

static_assert(std::atomic<pid_t>::is_always_lock_free, "shared memory needs lock-free atomics");
static_assert(std::is_standard_layout_v<PthreadLock> && std::is_trivially_destructible_v<PthreadLock>,
              "PthreadLock lives in shared memory: standard layout, nothing to destroy");
static_assert(std::is_standard_layout_v<RobustPthreadLock> &&
                  std::is_trivially_destructible_v<RobustPthreadLock>,
              "RobustPthreadLock lives in shared memory: standard layout, nothing to destroy");

}  // namespace mpkit::locking
