// BoostIpcLock: Boost's interprocess_mutex behind the Lock concept. The
// protocol and its limits are in boost_ipc_lock.hpp.

#include "mpkit/locking/boost_ipc_lock.hpp"

#include <cerrno>
#include <chrono>
#include <exception>
#include <new>
#include <string>

#include <boost/date_time/posix_time/posix_time_types.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>

#include "mpkit/ipc/error.hpp"

namespace mpkit::locking {
namespace {

using BoostMutex = boost::interprocess::interprocess_mutex;

BoostMutex& mutex_in(unsigned char* storage) noexcept {
  return *std::launder(reinterpret_cast<BoostMutex*>(storage));
}

[[noreturn]] void rethrow_as_system_error(const char* call) {
  try {
    throw;
  } catch (const std::exception& error) {
    throw_system_error(EINVAL, std::string(call) + ": " + error.what());
  }
}

}  // namespace

static_assert(sizeof(BoostMutex) == sizeof(pthread_mutex_t) &&
                  alignof(BoostMutex) == alignof(pthread_mutex_t),
              "BoostIpcLock's opaque storage must match Boost's mutex");

BoostIpcLock::BoostIpcLock() : storage_{} {
  try {
    new (storage_) BoostMutex;
  } catch (...) {
    rethrow_as_system_error("boost::interprocess::interprocess_mutex()");
  }
}

void BoostIpcLock::lock() {
  try {
    mutex_in(storage_).lock();
  } catch (...) {
    rethrow_as_system_error("boost::interprocess::interprocess_mutex::lock");
  }
}

bool BoostIpcLock::try_lock() {
  try {
    return mutex_in(storage_).try_lock();
  } catch (...) {
    rethrow_as_system_error("boost::interprocess::interprocess_mutex::try_lock");
  }
}

bool BoostIpcLock::try_lock_until(Deadline deadline) {
  if (deadline == Deadline::max()) {
    lock();
    return true;
  }
  // Boost waits on CLOCK_REALTIME: the time left now, added to UTC now.
  const auto left = std::chrono::ceil<std::chrono::microseconds>(deadline - Clock::now());  // never early
  const boost::posix_time::ptime until = boost::posix_time::microsec_clock::universal_time() +
                                         boost::posix_time::microseconds(left.count() > 0 ? left.count() : 0);
  try {
    return mutex_in(storage_).timed_lock(until);
  } catch (...) {
    rethrow_as_system_error("boost::interprocess::interprocess_mutex::timed_lock");
  }
}

void BoostIpcLock::unlock() noexcept { mutex_in(storage_).unlock(); }

}  // namespace mpkit::locking
