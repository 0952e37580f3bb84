#include <pthread.h>
#include <unistd.h>

#include "mpkit/ipc/this_process.hpp"

namespace mpkit::detail {

std::atomic<pid_t> g_cached_pid{0};

namespace {

void refresh_after_fork() noexcept {
  // relaxed: the child is single-threaded while atfork handlers run.
  g_cached_pid.store(::getpid(), std::memory_order_relaxed);
}

}  // namespace

pid_t init_pid_cache() noexcept {
  static const bool registered = [] {
    ::pthread_atfork(nullptr, nullptr, &refresh_after_fork);
    return true;
  }();
  (void)registered;
  const pid_t pid = ::getpid();
  // relaxed: every thread computes the same value; racing stores agree.
  g_cached_pid.store(pid, std::memory_order_relaxed);
  return pid;
}

}  // namespace mpkit::detail
