#pragma once

// BoostIpcLock: boost::interprocess::interprocess_mutex (Boost 1.74, the
// version Debian 12 ships), the C++ peer every mpkit lock is measured against.
//
// Protocol: Boost's. On Linux 1.74 it is a pthread_mutex_t initialised
// PTHREAD_PROCESS_SHARED and nothing else -- so the same futex protocol as
// PthreadLock, reached through Boost's calls. The bounded acquire is
// Boost's timed_lock(ptime), pthread_mutex_timedlock on CLOCK_REALTIME:
// the steady Deadline is turned into "now in UTC + time left", so a jump of
// the wall clock during the wait shifts its end (Boost's limitation).
//
// Owner death: NOT robust. Boost 1.74 sets no PTHREAD_MUTEX_ROBUST (Boost
// >= 1.78 fail-stops; Python's locks hang): a killed holder leaves the mutex
// owned for ever; lock() blocks for ever, try_lock_until returns false at
// its deadline. Use RobustPthreadLock or MpkitMutex where holders may die.
//
// Lifecycle and layout: the constructor builds Boost's mutex in storage_
// (all-zero bytes are not one: kValidAsZeroBytes = false). Boost's header
// is a build-time dependency only, so the object is opaque bytes here, sized
// and aligned as Boost's mutex (checked where Boost is included). No
// destructor runs (Boost's calls pthread_mutex_destroy, a no-op on Linux).
// Every call is out of line: the uncontended figure includes one call.
//
// Memory ordering: pthread's: lock acquires, unlock releases.

#include <pthread.h>

#include <string_view>
#include <type_traits>

#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {

class BoostIpcLock : public detail::TimedLock<BoostIpcLock> {
 public:
  static constexpr std::string_view kName = "boost-ipc";
  static constexpr bool kSurvivesOwnerDeath = false;
  static constexpr bool kSurvivesWaiterDeath = true;  // a waiter sleeps in the kernel, holding nothing
  static constexpr bool kReportsOwnerDeath = false;
  static constexpr bool kExcludesThreads = true;
  static constexpr bool kValidAsZeroBytes = false;
  static constexpr bool kSleeps = true;

  /// Throws: std::system_error if Boost's constructor fails.
  BoostIpcLock();
  BoostIpcLock(const BoostIpcLock&) = delete;
  BoostIpcLock& operator=(const BoostIpcLock&) = delete;
  BoostIpcLock(BoostIpcLock&&) = delete;
  BoostIpcLock& operator=(BoostIpcLock&&) = delete;
  ~BoostIpcLock() = default;

  /// Throws: std::system_error when Boost reports a lock error.
  void lock();
  [[nodiscard]] bool try_lock();
  [[nodiscard]] bool try_lock_until(Deadline deadline);
  void unlock() noexcept;

 private:
  alignas(pthread_mutex_t) unsigned char storage_[sizeof(pthread_mutex_t)];  // Boost's mutex
};

static_assert(std::is_standard_layout_v<BoostIpcLock> && std::is_trivially_destructible_v<BoostIpcLock>,
              "BoostIpcLock lives in shared memory: standard layout, nothing to destroy");

}  // namespace mpkit::locking
