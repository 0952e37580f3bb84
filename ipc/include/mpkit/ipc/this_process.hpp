#pragma once

// The calling process's pid, cached.
//
// glibc stopped caching getpid() in 2.25, so each call is a system call
// (~170 ns here); lock owners and segment names need it on fast paths. The
// cache is refreshed in the child of every fork() through pthread_atfork, so a
// forked child never reports its parent's pid.
//
// Requires: processes are created with fork()/Process (which run atfork
// handlers), not with a raw clone(2) syscall.
// Thread safety: any thread may call current_pid() at any time.

#include <sys/types.h>

namespace mpkit {

/// The pid of the calling process (cached; exact after fork).
[[nodiscard]] pid_t current_pid() noexcept;

}  // namespace mpkit
