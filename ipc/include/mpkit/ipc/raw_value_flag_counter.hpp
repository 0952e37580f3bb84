#pragma once

// RawValueFlag, RawValueCounter: a plain byte / int64 in an anonymous shared
// mapping with NO lock -- Python's mp.RawValue, the `rawvalue` strategy of
// EXPERIMENTS.md §1 and the `value-nolock` counter of §5.
//
// >>> RawValueCounter LOSES UPDATES. On purpose. <<<
//   Its add() is load, add, store: two processes that load the same value
//   both store value + 1, and one increment is gone (the machine notes in ARCHITECTURE.md measured
//   12-50 % lost with 2 processes x 10 M). It exists to reproduce the book's
//   lesson, carries kLosesUpdates = true (see loses_updates_v in counter.hpp),
//   and must never be used where a correct count matters: use AtomicCounter.
//
// Who may call what
//   Any thread of the creating process and of every process it forks after
//   create(), concurrently.
//
// Protocol
//   The value is a plain integer in shared memory, read and written through
//   std::atomic_ref with memory_order_relaxed: each load and each store is
//   one untorn access (a byte or an aligned 8-byte mov on x86), so there is
//   no undefined behaviour and TSan sees no data race -- but nothing more is
//   promised: no ordering with other memory, and no atomic read-modify-write.
//   RawValueFlag: set() stores 1, clear() stores 0, is_set() loads. A byte
//     store is all mp.RawValue ever does, and it never tears, so the FLAG is
//     correct; what it lacks is ordering (see below).
//   RawValueCounter: add(n) = store(load() + n). Lossy, as said above.
//   Layout: the value alone in its 64-byte line after SharedObject's header.
//
// What a SIGKILL of a user does: nothing beyond losing that user's own
// unfinished increment; no lock exists.
//
// Memory ordering: relaxed everywhere, on purpose (that is the RawValue
// contract): a reader that sees the flag set must not assume it sees anything
// else the setter wrote. The compiler still emits one load per is_set() call
// (atomic loads are never merged or hoisted out of a polling loop).
//
// Contract
//   Requires: a handle that was not moved from.
//   Guarantees: flag: eventual visibility of the last store. Counter: with a
//             single writer at a time, exact; with concurrent writers,
//             0 <= lost <= all but the last writer's updates -- no more.
//   Throws:   create(): std::system_error if the mapping fails. Nothing else.
//   Thread safety: callable from any thread of any process (no UB), but the
//             counter is not correct under concurrency, by design.
//
// Example
//   auto hits = mpkit::RawValueCounter::create();   // the book's value-nolock
//   /* 4 workers */ for (int i = 0; i < 1000; ++i) hits.increment();
//   report(hits.get(), 4000);                       // typically < 4000

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/atomic_flag_counter.hpp"
#include "mpkit/ipc/counter.hpp"
#include "mpkit/ipc/flag.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/shared_object.hpp"

namespace mpkit {
namespace detail {

struct alignas(kCacheLineSize) RawValueFlagCell {
  static constexpr std::uint32_t kLayoutVersion = 1;
  std::uint8_t value = 0;  // accessed only through std::atomic_ref, relaxed
};

struct alignas(kCacheLineSize) RawValueCounterCell {
  static constexpr std::uint32_t kLayoutVersion = 1;
  std::int64_t value = 0;  // accessed only through std::atomic_ref, relaxed
};

static_assert(std::atomic_ref<std::uint8_t>::is_always_lock_free &&
                  std::atomic_ref<std::int64_t>::is_always_lock_free,
              "each access must be one untorn instruction, with no hidden lock");
static_assert(alignof(RawValueCounterCell) >= std::atomic_ref<std::int64_t>::required_alignment,
              "atomic_ref needs the int64 naturally aligned");
static_assert(sizeof(RawValueFlagCell) == kCacheLineSize &&
                  sizeof(RawValueCounterCell) == kCacheLineSize,
              "each value owns its cache line");

}  // namespace detail

class RawValueFlag {
 public:
  /// A clear flag in a fresh anonymous mapping that forked children inherit.
  [[nodiscard]] static RawValueFlag create() {
    return RawValueFlag(SharedObject<detail::RawValueFlagCell>::anonymous());
  }

  // relaxed: RawValue semantics, a lone byte store ordered with nothing.
  void set() noexcept { ref().store(1, std::memory_order_relaxed); }
  // relaxed: as set().
  void clear() noexcept { ref().store(0, std::memory_order_relaxed); }
  // relaxed: RawValue semantics; one load per call, never hoisted.
  [[nodiscard]] bool is_set() const noexcept { return ref().load(std::memory_order_relaxed) != 0; }

 private:
  explicit RawValueFlag(SharedObject<detail::RawValueFlagCell> cell) noexcept
      : cell_(std::move(cell)) {}
  [[nodiscard]] std::atomic_ref<std::uint8_t> ref() const noexcept {
    return std::atomic_ref(cell_->value);
  }
  SharedObject<detail::RawValueFlagCell> cell_;
};

/// LOSES UPDATES under concurrency, by design (see the file comment).
class RawValueCounter {
 public:
  /// This counter is the book's unlocked counter: concurrent adds may vanish.
  static constexpr bool kLosesUpdates = true;

  /// A counter at 0 in a fresh anonymous mapping that forked children inherit.
  [[nodiscard]] static RawValueCounter create() {
    return RawValueCounter(SharedObject<detail::RawValueCounterCell>::anonymous());
  }

  std::int64_t increment() noexcept { return add(1); }
  /// NOT atomic: load, add, store. Returns the value this call stored.
  std::int64_t add(std::int64_t n) noexcept {
    auto value = ref();
    // relaxed, both: RawValue semantics. The gap between this load and the
    // store below is the race the experiment exists to show.
    const std::int64_t next = detail::wrapping_add(value.load(std::memory_order_relaxed), n);
    value.store(next, std::memory_order_relaxed);
    return next;
  }
  // relaxed: a snapshot; join()/waitpid orders it after finished children.
  [[nodiscard]] std::int64_t get() const noexcept { return ref().load(std::memory_order_relaxed); }

 private:
  explicit RawValueCounter(SharedObject<detail::RawValueCounterCell> cell) noexcept
      : cell_(std::move(cell)) {}
  [[nodiscard]] std::atomic_ref<std::int64_t> ref() const noexcept {
    return std::atomic_ref(cell_->value);
  }
  SharedObject<detail::RawValueCounterCell> cell_;
};

static_assert(Flag<RawValueFlag>);
static_assert(Counter<RawValueCounter> && loses_updates_v<RawValueCounter>);

}  // namespace mpkit
