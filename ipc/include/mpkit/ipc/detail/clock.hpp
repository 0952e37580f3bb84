#pragma once

// now_ns(): the one clock read that mpkit passes around as a number.
//
// steady_clock is CLOCK_MONOTONIC in libstdc++, the clock of every Deadline
// and of the futex waits (futex.hpp), and every process on the host reads
// the same one: a value one process stores in shared memory (a finish time,
// a task's start, a client's deadline) compares directly with another
// process's. The Manager server, the pool's timeout check and the lab's
// experiments all read it here; nothing else in the repository spells it out.

#include <chrono>
#include <cstdint>

namespace mpkit::detail {

static_assert(std::chrono::steady_clock::is_steady, "now_ns must never run backwards");

/// CLOCK_MONOTONIC now, in nanoseconds since its (boot-time) epoch.
[[nodiscard]] inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace mpkit::detail
