#pragma once

// ValueFlag, ValueCounter: a byte / int64 guarded by a robust mpkit::Mutex,
// lock per access -- Python's mp.Value (whose get_lock() is an RLock), the
// `value` strategy of EXPERIMENTS.md §1 and the `value-lock` counter of §5.
//
// Who may call what
//   Any thread of the creating process and of every process it forks after
//   create(), concurrently.
//
// Protocol
//   Every call -- set, clear, is_set, add, get -- is: mutex.acquire();
//   one load and/or one store of the value; mutex.unlock(). Nothing is read
//   or written outside the lock, so an add is exact.
//   Owner death: acquire() reports kOwnerDied when the previous holder died
//   holding the lock. The guarded value is always consistent -- it is one
//   aligned atomic store, which a SIGKILL cannot split: the dead holder's
//   update either happened completely or not at all -- so the taker marks
//   the mutex consistent at once, counts the event (owner_deaths()) and
//   carries on. kNotRecoverable cannot arise from this protocol (it always
//   marks consistent before unlocking); should someone else poison the
//   mutex, calls throw std::system_error(ENOTRECOVERABLE).
//   Layout: one 64-byte line after SharedObject's header: the 8-byte mutex,
//   the value, the owner-death count (the holder touches all three).
//
// What a SIGKILL of a user does
//   - while holding the lock: the next caller takes the lock over within
//     ~1 ms plus one /proc read (Mutex's owner check), repairs as above; the
//     dead caller's own increment happened or not (it never returned).
//   - elsewhere: nothing.
//
// Memory ordering: the mutex orders everything (acquire CAS to lock, release
// exchange to unlock), so a reader that sees the flag set also sees what the
// setter wrote before set(). The value is a std::atomic accessed relaxed
// under the lock only so that each store is one untorn instruction (the
// SIGKILL argument above), not for ordering.
//
// Contract
//   Requires: a handle that was not moved from.
//   Guarantees: exact counts, also across SIGKILLed holders (up to the
//             killed call's own update); each call blocks only while
//             another caller holds the lock (a few ns) or a dead owner is
//             being detected (~1 ms).
//   Throws:   create(): std::system_error if the mapping fails. Calls:
//             std::system_error(ENOTRECOVERABLE) on a poisoned mutex (never
//             caused by this protocol).
//   Thread safety: any thread of any process sharing the mapping.
//
// Example
//   auto count = mpkit::ValueCounter::create();      // mp.Value('i', 0)
//   /* 4 workers */ for (int i = 0; i < 1000; ++i) count.increment();
//   assert(count.get() == 4000);

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/atomic_flag_counter.hpp"
#include "mpkit/ipc/counter.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/flag.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/mutex.hpp"
#include "mpkit/ipc/shared_object.hpp"

namespace mpkit {

struct ValueFlagCounterTestAccess;  // tests only: dies holding the lock

namespace detail {

template <class T>
struct alignas(kCacheLineSize) LockedValueCell {
  static constexpr std::uint32_t kLayoutVersion = 1;
  Mutex mutex;
  std::atomic<T> value{0};                     // written under mutex only
  std::atomic<std::uint32_t> owner_deaths{0};  // written under mutex only
};

static_assert(std::atomic<std::int64_t>::is_always_lock_free &&
                  std::atomic<std::uint8_t>::is_always_lock_free,
              "only lock-free atomics work across processes");
static_assert(sizeof(LockedValueCell<std::int64_t>) == kCacheLineSize,
              "mutex and value share one line: the holder touches both");
static_assert(std::is_standard_layout_v<LockedValueCell<std::int64_t>> &&
                  std::is_trivially_destructible_v<LockedValueCell<std::int64_t>>,
              "lives in shared memory and vanishes with it");

/// Runs `fn(value)` under the cell's mutex (see "Owner death" above).
template <class T, class Fn>
auto with_value_locked(LockedValueCell<T>& cell, const char* who, Fn&& fn) {
  switch (cell.mutex.acquire()) {
    case LockStatus::kAcquired:
      break;
    case LockStatus::kOwnerDied:
      // The value is one untorn store: consistent whatever the dead holder
      // did. relaxed: under the lock, a tally.
      cell.owner_deaths.fetch_add(1, std::memory_order_relaxed);
      cell.mutex.mark_consistent();
      break;
    case LockStatus::kTimedOut:  // no deadline was given: cannot happen
    case LockStatus::kNotRecoverable:
      throw_system_error(ENOTRECOVERABLE, std::string(who) + ": its mutex is not recoverable");
  }
  struct Unlock {
    explicit Unlock(Mutex& mutex) noexcept : m(mutex) {}
    Mutex& m;
    Unlock(const Unlock&) = delete;
    Unlock& operator=(const Unlock&) = delete;
    ~Unlock() { m.unlock(); }
  } unlock{cell.mutex};
  return fn(cell.value);
}

}  // namespace detail

class ValueFlag {
 public:
  /// A clear flag in a fresh anonymous mapping that forked children inherit.
  [[nodiscard]] static ValueFlag create() { return ValueFlag(Cell::anonymous()); }

  void set() { store(1); }
  void clear() { store(0); }
  [[nodiscard]] bool is_set() {
    return detail::with_value_locked(*cell_, "ValueFlag", [](auto& value) {
      return value.load(std::memory_order_relaxed) != 0;  // relaxed: under the mutex, which orders
    });
  }

  /// How many times a caller found the previous holder dead and took over.
  [[nodiscard]] std::uint32_t owner_deaths() const noexcept {
    return cell_->owner_deaths.load(std::memory_order_relaxed);  // relaxed: a tally
  }

 private:
  friend struct ValueFlagCounterTestAccess;
  using Cell = SharedObject<detail::LockedValueCell<std::uint8_t>>;
  explicit ValueFlag(Cell cell) noexcept : cell_(std::move(cell)) {}
  void store(std::uint8_t v) {
    detail::with_value_locked(*cell_, "ValueFlag", [v](auto& value) {
      value.store(v, std::memory_order_relaxed);  // relaxed: under the mutex, which orders
    });
  }
  Cell cell_;
};

class ValueCounter {
 public:
  /// A counter at 0 in a fresh anonymous mapping that forked children inherit.
  [[nodiscard]] static ValueCounter create() { return ValueCounter(Cell::anonymous()); }

  std::int64_t increment() { return add(1); }
  std::int64_t add(std::int64_t n) {
    return detail::with_value_locked(*cell_, "ValueCounter", [n](auto& value) {
      // relaxed: under the mutex, which orders; atomic only to be untorn.
      const std::int64_t next = detail::wrapping_add(value.load(std::memory_order_relaxed), n);
      value.store(next, std::memory_order_relaxed);
      return next;
    });
  }
  [[nodiscard]] std::int64_t get() {
    return detail::with_value_locked(*cell_, "ValueCounter", [](auto& value) {
      return value.load(std::memory_order_relaxed);  // relaxed: under the mutex, which orders
    });
  }

  /// How many times a caller found the previous holder dead and took over.
  [[nodiscard]] std::uint32_t owner_deaths() const noexcept {
    return cell_->owner_deaths.load(std::memory_order_relaxed);  // relaxed: a tally
  }

 private:
  friend struct ValueFlagCounterTestAccess;
  using Cell = SharedObject<detail::LockedValueCell<std::int64_t>>;
  explicit ValueCounter(Cell cell) noexcept : cell_(std::move(cell)) {}
  Cell cell_;
};

static_assert(Flag<ValueFlag>);
static_assert(Counter<ValueCounter> && !loses_updates_v<ValueCounter>);

}  // namespace mpkit
