// SemaphoreLock: initialisation and the bounded acquire (semaphore_lock.hpp).

#include "mpkit/locking/semaphore_lock.hpp"

#include <time.h>

#include "timespec.hpp"

namespace mpkit::locking {

SemaphoreLock::SemaphoreLock() : sem_{} {
  if (::sem_init(&sem_, /*pshared=*/1, /*value=*/1) != 0) throw_errno("sem_init (pshared, value 1)");
}

bool SemaphoreLock::try_lock_until(Deadline deadline) {
  if (deadline == Deadline::max()) {
    lock();
    return true;
  }
#ifdef MPKIT_LOCKING_TSAN
  return detail::poll_until([&] { return try_lock(); }, deadline);
#else
  const timespec ts = detail::to_monotonic_timespec(deadline);
  while (::sem_clockwait(&sem_, CLOCK_MONOTONIC, &ts) != 0) {
    if (errno == ETIMEDOUT) return false;
    if (errno != EINTR) throw_errno("sem_clockwait");  // EINTR: same absolute deadline again
  }
  return true;
#endif
}

}  // namespace mpkit::locking
