#pragma once

// Counter: a 64-bit integer that processes forked from one parent increment
// together -- the counters of EXPERIMENTS.md §5 (workers x increments,
// expected total, lost updates).
//
// Backends (one handle class each; every one models Counter):
//   AtomicCounter    fetch_add on std::atomic<int64_t> in an anonymous mapping
//   RawValueCounter  load, add, store with NO lock: LOSES UPDATES on purpose
//                    (the book's value-nolock); its kLosesUpdates is true
//   ValueCounter     an int64 guarded by a robust mpkit::Mutex, like mp.Value
//   RedisCounter     INCR / INCRBY / GET of a key on a Redis server
//                    (mpkit::ipc_remote, mpkit/ipc/remote/redis_flag_counter.hpp)
//   ManagerCounter   an add request per call to a Manager server process
//                    (mpkit::ipc_remote, mpkit/ipc/remote/manager_flag_counter.hpp): exact
//
// Semantics shared by every backend
//   - A new counter is 0. increment() is add(1).
//   - add(n) returns the value right after this call's own update, as Redis's
//     INCRBY and fetch_add + n do: callers get a ticket for free, and a
//     backend that can do better than "void" costs nothing more for it. For
//     RawValueCounter it is the value this call stored, which a concurrent
//     update may overwrite.
//   - get() is a snapshot: other processes may have added since.
//   - Exact (every add is counted once) unless loses_updates_v<C> is true.
//   - Overflow past INT64_MAX wraps (shared-memory backends, two's
//     complement through unsigned arithmetic) or is an error reply (Redis).
//   - A handle is made in the parent (create()) and used by the parent and
//     every child it forks afterwards; threads of one process may share one
//     handle.
//
// Example
//   auto hits = mpkit::AtomicCounter::create();
//   { mpkit::Process w([&] { for (int i = 0; i < 1000; ++i) hits.increment(); }); (void)w.join(); }
//   assert(hits.get() == 1000);

#include <concepts>
#include <cstdint>

namespace mpkit {

/// What every counter backend offers.
template <class C>
concept Counter = requires(C& counter, std::int64_t n) {
  { counter.increment() } -> std::same_as<std::int64_t>;  // the value after this call
  { counter.add(n) } -> std::same_as<std::int64_t>;       // the value after this call
  { counter.get() } -> std::same_as<std::int64_t>;        // a snapshot
};

/// True for a counter that may lose concurrent updates by design
/// (C::kLosesUpdates); experiments report `correct: false` from it without
/// surprise, and tests expect total <= expected instead of ==.
template <class C>
inline constexpr bool loses_updates_v = [] {
  if constexpr (requires { C::kLosesUpdates; }) {
    return static_cast<bool>(C::kLosesUpdates);
  } else {
    return false;
  }
}();

}  // namespace mpkit
