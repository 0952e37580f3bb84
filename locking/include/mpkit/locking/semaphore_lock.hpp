#pragma once

// SemaphoreLock: a POSIX unnamed semaphore (sem_t, pshared = 1) used as a
// binary lock: initial value 1, lock = sem_wait, unlock = sem_post.
//
// Protocol: glibc's: the value and a waiter count in one 64-bit word; wait
// decrements with a CAS when the value is > 0, else sleeps in futex(2);
// post increments and wakes one sleeper if the count says there is one.
// The bounded acquire is sem_clockwait(CLOCK_MONOTONIC) (under
// ThreadSanitizer, which does not intercept it, a trywait poll). A signal handler
// interrupting a wait (EINTR) is retried with the same absolute deadline.
//
// Owner death: NOT survivable. A semaphore has no owner, so nobody can tell
// that the process which took the unit died: the value stays 0, lock()
// blocks for ever, try_lock_until returns false at its deadline.
// And because it has no owner, unlock() by a thread that does not hold it
// raises the value to 2 and breaks mutual exclusion: only the holder may
// unlock (the Lock contract; nothing checks it here).
//
// Lifecycle and layout: the constructor runs sem_init(pshared = 1, value 1)
// and throws std::system_error("sem_init") on failure. All-zero bytes are a
// semaphore of value 0 -- a lock nobody can take (kValidAsZeroBytes =
// false). No destructor runs: sem_destroy releases nothing on Linux.
// 32 bytes.
//
// Memory ordering: glibc's: a successful wait acquires, post releases.

#include <semaphore.h>

#include <cerrno>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/error.hpp"
#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {

class SemaphoreLock : public detail::TimedLock<SemaphoreLock> {
 public:
  static constexpr std::string_view kName = "semaphore";
  static constexpr bool kSurvivesOwnerDeath = false;
  static constexpr bool kSurvivesWaiterDeath = true;  // the kernel drops a killed sem_wait
  static constexpr bool kReportsOwnerDeath = false;
  static constexpr bool kExcludesThreads = true;
  static constexpr bool kValidAsZeroBytes = false;
  static constexpr bool kSleeps = true;

  SemaphoreLock();
  SemaphoreLock(const SemaphoreLock&) = delete;
  SemaphoreLock& operator=(const SemaphoreLock&) = delete;
  SemaphoreLock(SemaphoreLock&&) = delete;
  SemaphoreLock& operator=(SemaphoreLock&&) = delete;
  ~SemaphoreLock() = default;

  void lock() {
    while (::sem_wait(&sem_) != 0) {
      if (errno != EINTR) [[unlikely]] throw_errno("sem_wait");
    }
  }
  [[nodiscard]] bool try_lock() {
    while (::sem_trywait(&sem_) != 0) {
      if (errno == EAGAIN) return false;
      if (errno != EINTR) [[unlikely]] throw_errno("sem_trywait");
    }
    return true;
  }
  [[nodiscard]] bool try_lock_until(Deadline deadline);
  void unlock() noexcept { (void)::sem_post(&sem_); }

 private:
  sem_t sem_;
};

static_assert(std::is_standard_layout_v<SemaphoreLock> && std::is_trivially_destructible_v<SemaphoreLock>,
              "SemaphoreLock lives in shared memory: standard layout, nothing to destroy");

}  // namespace mpkit::locking
