#pragma once

// The calling process's pid, cached.
//
// glibc stopped caching getpid() in 2.25, so each call is a system call
// (~170 ns here); lock owners and segment names need it on fast paths (the
// Mutex stores it in its futex word on every lock). The cache lives in a page
// of its own marked MADV_WIPEONFORK: the kernel hands every child, however it
// was forked (fork, _Fork, clone), a zeroed copy, so a child recomputes its
// pid on first use and never reports its parent's — even inside atfork
// handlers that run before ours would. Where the kernel lacks WIPEONFORK
// (before 4.14) a pthread_atfork child handler clears it instead.
//
// Thread safety: any thread may call current_pid() at any time.

#include <sys/types.h>

#include <atomic>

namespace mpkit {
namespace detail {

// The cache slot: 0 means "not known in this process". Null until first use.
// acquire/release on the pointer: it is published once, after the page is set up.
extern std::atomic<std::atomic<pid_t>*> g_pid_slot;
[[nodiscard]] pid_t init_pid_cache() noexcept;

}  // namespace detail

/// The pid of the calling process (cached; exact after any fork).
[[nodiscard]] inline pid_t current_pid() noexcept {
  const std::atomic<pid_t>* slot = detail::g_pid_slot.load(std::memory_order_acquire);
  // relaxed: the slot only ever holds 0 or this process's own pid.
  const pid_t pid = slot != nullptr ? slot->load(std::memory_order_relaxed) : 0;
  return pid != 0 ? pid : detail::init_pid_cache();
}

}  // namespace mpkit
