#include <pthread.h>
#include <unistd.h>

#include <atomic>

#include "mpkit/ipc/this_process.hpp"

namespace mpkit {
namespace {

// relaxed: the value is only ever the pid of this process; a stale read is
// impossible because the child handler runs before fork() returns in the child.
std::atomic<pid_t> g_cached_pid{0};

void refresh_after_fork() noexcept {
  g_cached_pid.store(::getpid(), std::memory_order_relaxed);
}

pid_t init_cache() noexcept {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, &refresh_after_fork);
    return true;
  }();
  (void)registered;
  const pid_t pid = ::getpid();
  g_cached_pid.store(pid, std::memory_order_relaxed);
  return pid;
}

}  // namespace

pid_t current_pid() noexcept {
  const pid_t pid = g_cached_pid.load(std::memory_order_relaxed);
  return pid != 0 ? pid : init_cache();
}

}  // namespace mpkit
