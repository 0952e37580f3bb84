#pragma once

// The calling process's pid, cached.
//
// glibc stopped caching getpid() in 2.25, so each call is a system call
// (~170 ns here); lock owners and segment names need it on fast paths (the
// Mutex stores it in its futex word on every lock). The cache is refreshed in
// the child of every fork() through pthread_atfork, so a forked child never
// reports its parent's pid.
//
// Requires: processes are created with fork()/Process (which run atfork
// handlers), not with a raw clone(2) syscall.
// Thread safety: any thread may call current_pid() at any time.

#include <sys/types.h>

#include <atomic>

namespace mpkit {
namespace detail {

// 0 until first use; then this process's pid. relaxed loads suffice: the
// value is only ever this process's own pid, set before fork() returns.
extern std::atomic<pid_t> g_cached_pid;
[[nodiscard]] pid_t init_pid_cache() noexcept;

}  // namespace detail

/// The pid of the calling process (cached; exact after fork).
[[nodiscard]] inline pid_t current_pid() noexcept {
  const pid_t pid = detail::g_cached_pid.load(std::memory_order_relaxed);
  return pid != 0 ? pid : detail::init_pid_cache();
}

}  // namespace mpkit
