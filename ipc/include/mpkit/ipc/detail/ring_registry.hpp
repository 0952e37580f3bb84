#pragma once

// PidRegistry: which processes have acted as producers (or consumers) of an
// MpmcRing, so that a waiter can tell "every peer is gone" from "peers are
// slow".
//
// Protocol
//   - A process registers once, on its first push (pop): it looks for its own
//     pid, then CASes an empty entry (0 -> pid), then an entry whose process
//     is gone (dead pid -> pid). If every entry holds a live process it sets
//     `overflow`, and from then on the registry answers "unknown": no hard
//     limit on the number of participants, only on how many are tracked.
//   - all_gone() is true only if nothing overflowed, at least one process
//     registered, and every registered process is gone (process_is_gone: a
//     /proc read each). Waiters call it after an idle wait slice, never on a
//     fast path.
//   Layout: two cache lines, written once per participating process.
//
// Memory ordering: every access is relaxed or a relaxed CAS: the entries are
// liveness hints, and no data is published through them.

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/segment_name.hpp"

namespace mpkit::detail {

struct alignas(kCacheLineSize) PidRegistry {
  static constexpr std::size_t kEntries = 31;

  std::atomic<std::uint32_t> overflow{0};
  std::atomic<std::int32_t> pids[kEntries] = {};

  void add(pid_t self) noexcept {
    // relaxed everywhere: hints, see the file comment.
    for (auto& entry : pids) {
      if (entry.load(std::memory_order_relaxed) == self) return;
    }
    for (auto& entry : pids) {
      std::int32_t expected = 0;
      if (entry.compare_exchange_strong(expected, self, std::memory_order_relaxed)) return;
      if (expected == self) return;
    }
    for (auto& entry : pids) {
      std::int32_t expected = entry.load(std::memory_order_relaxed);
      if (expected == self) return;
      if (expected != 0 && process_is_gone(expected) &&
          entry.compare_exchange_strong(expected, self, std::memory_order_relaxed)) {
        return;
      }
    }
    overflow.store(1, std::memory_order_relaxed);
  }

  /// True if every registered process is gone (and we know them all).
  [[nodiscard]] bool all_gone() const noexcept {
    if (overflow.load(std::memory_order_relaxed) != 0) return false;
    bool any = false;
    for (const auto& entry : pids) {
      const pid_t pid = entry.load(std::memory_order_relaxed);
      if (pid == 0) continue;
      any = true;
      if (!process_is_gone(pid)) return false;
    }
    return any;
  }
};
static_assert(sizeof(PidRegistry) == 2 * kCacheLineSize, "two lines of pids");
static_assert(std::is_standard_layout_v<PidRegistry> && std::is_trivially_destructible_v<PidRegistry>);
static_assert(std::atomic<std::int32_t>::is_always_lock_free);

}  // namespace mpkit::detail
