#pragma once

// MpkitMutex: mpkit's own robust futex Mutex (mpkit/ipc/mutex.hpp) under the
// Lock concept -- an adapter that forwards every call, so the registry and
// the experiments measure exactly the lock users link.
//
// Protocol: Mutex's (its header has it in full): one CAS 0 -> pid to lock, a
// backing-off spin of ~2.5 µs, then futex sleeps in slices of
// Mutex::kOwnerCheckInterval; an exchange to unlock that wakes only if a
// waiter flagged itself. Owner death: a waiter that has watched the same
// owner for a whole slice reads /proc; if the owner process is gone it takes
// the lock over and reports kOwnerDied (Mutex's mpkit::OwnerDiedError from lock and
// try_lock*) -- within ~1 ms plus one /proc read.
// Same policy as RobustPthreadLock: repair, mark_consistent(), unlock();
// unlocking without it poisons the lock (kNotRecoverable).
// Layout: 8 bytes, all zero = free.
//
// Memory ordering: Mutex's: the CAS that takes the word is acquire, the
// exchange that frees it is release.

#include <optional>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/mutex.hpp"
#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {

class MpkitMutex : public detail::TimedLock<MpkitMutex> {
 public:
  static constexpr std::string_view kName = "mpkit-mutex";
  static constexpr bool kSurvivesOwnerDeath = true;
  static constexpr bool kSurvivesWaiterDeath = true;  // a waiter leaves at most the waiters bit: one needless wake
  static constexpr bool kReportsOwnerDeath = true;
  static constexpr bool kExcludesThreads = true;
  static constexpr bool kValidAsZeroBytes = true;
  static constexpr bool kSleeps = true;

  constexpr MpkitMutex() noexcept = default;
  MpkitMutex(const MpkitMutex&) = delete;
  MpkitMutex& operator=(const MpkitMutex&) = delete;
  MpkitMutex(MpkitMutex&&) = delete;
  MpkitMutex& operator=(MpkitMutex&&) = delete;
  ~MpkitMutex() = default;

  /// Throws: Mutex's own mpkit::OwnerDiedError (lock HELD, naming the dead
  /// owner) and mpkit::NotRecoverableError.
  void lock() { mutex_.lock(); }
  [[nodiscard]] bool try_lock() { return mutex_.try_lock(); }
  [[nodiscard]] bool try_lock_until(Deadline deadline) { return mutex_.try_lock_until(deadline); }
  void unlock() noexcept { mutex_.unlock(); }

  [[nodiscard]] LockStatus acquire(std::optional<Deadline> deadline = std::nullopt) noexcept {
    return mutex_.acquire(deadline);
  }
  [[nodiscard]] LockStatus try_acquire() noexcept { return mutex_.try_acquire(); }
  void mark_consistent() noexcept { mutex_.mark_consistent(); }

  /// The Mutex itself (for Condition waits and owner_guess()).
  [[nodiscard]] Mutex& native() noexcept { return mutex_; }

 private:
  Mutex mutex_;
};

static_assert(std::is_standard_layout_v<MpkitMutex> && std::is_trivially_destructible_v<MpkitMutex>,
              "MpkitMutex lives in shared memory: standard layout, nothing to destroy");
static_assert(sizeof(MpkitMutex) == sizeof(Mutex), "an adapter adds no bytes");

}  // namespace mpkit::locking
