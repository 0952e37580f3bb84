#pragma once

// StartGate: the start line of every experiment's forked children, used
// through ForkedChildren (children.hpp). Lives in an anonymous shared mapping
// made before the fork.
//
// Protocol: each child calls check_in_and_wait(): `ready` += 1 (release),
// wake the parent, then sleep on `go` until it is 1. The parent calls
// await_children(n) (sleeps on `ready` until n checked in), reads its clock,
// then open() stores go = 1 (release) and wakes everyone. Both waits are
// bounded by `timeout`: a child that never starts, or a parent that never
// opens, is a false return, never a hang.
//
// Memory ordering: ready and go are release/acquire pairs; everything a side
// wrote before its store is visible to the other after its load.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <type_traits>

#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"

namespace mpkit::detail {

struct StartGate {
  alignas(kCacheLineSize) std::atomic<std::uint32_t> ready{0};  // children -> parent
  std::atomic<std::uint32_t> go{0};                             // parent -> children

  /// A child: check in, then wait for open(); false at the timeout.
  [[nodiscard]] bool check_in_and_wait(Clock::duration timeout) noexcept {
    ready.fetch_add(1, std::memory_order_release);  // pairs with await_children
    futex_wake_all(ready);
    const Deadline deadline = deadline_after(timeout);
    while (go.load(std::memory_order_acquire) == 0) {  // pairs with open()
      if (Clock::now() > deadline) return false;
      (void)futex_wait(go, 0, deadline);  // every outcome re-checks the word
    }
    return true;
  }

  /// The parent: wait until `children` checked in; false at the timeout.
  [[nodiscard]] bool await_children(std::uint32_t children, Clock::duration timeout) noexcept {
    const Deadline deadline = deadline_after(timeout);
    for (;;) {
      const std::uint32_t seen = ready.load(std::memory_order_acquire);
      if (seen >= children) return true;
      if (Clock::now() > deadline) return false;
      (void)futex_wait(ready, seen, deadline);
    }
  }

  /// The parent: release every child.
  void open() noexcept {
    go.store(1, std::memory_order_release);
    futex_wake_all(go);
  }
};
static_assert(std::is_trivially_destructible_v<StartGate> && std::is_standard_layout_v<StartGate>,
              "lives in shared memory and vanishes with it");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "futex words across processes");

}  // namespace mpkit::detail
