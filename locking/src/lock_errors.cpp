// The owner-death errors of the robust locks (lock.hpp).

#include <string>

#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {

LockOwnerDiedError::LockOwnerDiedError(std::string_view lock_name, pid_t dead_owner)
    : mpkit::OwnerDiedError(dead_owner),
      message_(std::string(lock_name) + ": owner process " +
               (dead_owner > 0 ? std::to_string(dead_owner) : std::string("(unknown)")) +
               " died holding the lock; repair the data, then mark_consistent() and unlock()") {}

LockNotRecoverableError::LockNotRecoverableError(std::string_view lock_name)
    : message_(std::string(lock_name) +
               ": not recoverable (a lock taken over from a dead owner was unlocked without "
               "mark_consistent())") {}

}  // namespace mpkit::locking
