// PthreadLock / RobustPthreadLock: initialisation, the bounded acquire, and
// the robust outcomes. The protocol is in pthread_lock.hpp.

#include "mpkit/locking/pthread_lock.hpp"

#include <time.h>

#include "timespec.hpp"

namespace mpkit::locking {
namespace {

void init_shared_mutex(pthread_mutex_t& mutex, bool robust) {
  pthread_mutexattr_t attr;
  if (const int rc = ::pthread_mutexattr_init(&attr); rc != 0) {
    throw_system_error(rc, "pthread_mutexattr_init");
  }
  int rc = ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0 && robust) rc = ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = ::pthread_mutex_init(&mutex, &attr);
  ::pthread_mutexattr_destroy(&attr);
  if (rc != 0) throw_system_error(rc, robust ? "pthread_mutex_init (shared, robust)" : "pthread_mutex_init (shared)");
}

// Deadline::max() and beyond the range of timespec mean "no deadline".
int lock_until(pthread_mutex_t& mutex, std::optional<Deadline> deadline) {
  if (!deadline || *deadline == Deadline::max()) return ::pthread_mutex_lock(&mutex);
#ifdef MPKIT_LOCKING_TSAN
  int rc = EBUSY;
  (void)detail::poll_until([&] { return (rc = ::pthread_mutex_trylock(&mutex)) != EBUSY; }, *deadline);
  return rc == EBUSY ? ETIMEDOUT : rc;
#else
  const timespec ts = detail::to_monotonic_timespec(*deadline);
  int rc = 0;
  do {  // POSIX says EINTR never comes back; be safe anyway.
    rc = ::pthread_mutex_clocklock(&mutex, CLOCK_MONOTONIC, &ts);
  } while (rc == EINTR);
  return rc;
#endif
}

}  // namespace

PthreadLock::PthreadLock() : mutex_{} { init_shared_mutex(mutex_, false); }

bool PthreadLock::try_lock_until(Deadline deadline) {
  const int rc = lock_until(mutex_, deadline);
  if (rc == 0) return true;
  if (rc != ETIMEDOUT) throw_system_error(rc, "pthread_mutex_clocklock");
  return false;
}

RobustPthreadLock::RobustPthreadLock() : mutex_{} { init_shared_mutex(mutex_, true); }

LockStatus RobustPthreadLock::acquire(std::optional<Deadline> deadline) {
  if (poisoned()) return LockStatus::kNotRecoverable;
  const int rc = lock_until(mutex_, deadline);
  if (rc == 0) {
    note_owner();
    return LockStatus::kAcquired;
  }
  return settle(rc, "pthread_mutex_clocklock");
}

LockStatus RobustPthreadLock::settle(int rc, const char* call) {
  switch (rc) {
    case EOWNERDEAD:
      // We hold the lock: owner_ still names the process that held it last.
      dead_owner_ = owner_.load(std::memory_order_relaxed);  // relaxed: see note_owner()
      note_owner();
      state_.store(kInconsistent, std::memory_order_relaxed);  // relaxed: we hold the lock
      return LockStatus::kOwnerDied;
    case ENOTRECOVERABLE:
      state_.store(kNotRecoverable, std::memory_order_relaxed);  // relaxed: a verdict, no data
      return LockStatus::kNotRecoverable;
    case EBUSY:
    case ETIMEDOUT:
      return LockStatus::kTimedOut;
    default:
      throw_system_error(rc, call);
  }
}

bool RobustPthreadLock::throw_unless_acquired(LockStatus status) {
  switch (status) {
    case LockStatus::kAcquired:
      return true;
    case LockStatus::kTimedOut:
      return false;
    case LockStatus::kOwnerDied:
      throw LockOwnerDiedError(kName, dead_owner_);
    case LockStatus::kNotRecoverable:
      break;
  }
  throw LockNotRecoverableError(kName);
}

void RobustPthreadLock::mark_consistent() noexcept {
  // relaxed: we hold the lock, and only the holder writes state_.
  if (state_.load(std::memory_order_relaxed) != kInconsistent) return;  // the documented no-op
  (void)::pthread_mutex_consistent(&mutex_);
  state_.store(kConsistent, std::memory_order_relaxed);
}

}  // namespace mpkit::locking
