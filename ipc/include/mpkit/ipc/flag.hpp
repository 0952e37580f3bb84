#pragma once

// Flag: a boolean that processes forked from one parent share -- the "factor
// found" flag of the prime-validation experiments (EXPERIMENTS.md §1).
//
// Backends (one handle class each; every one models Flag):
//
//   AtomicFlag     std::atomic<uint8_t> in an anonymous mapping
//                  (atomic_flag_counter.hpp)
//   RawValueFlag   a plain byte, relaxed loads and stores, like mp.RawValue
//                  (raw_value_flag_counter.hpp)
//   ValueFlag      a byte guarded by a robust mpkit::Mutex, like mp.Value
//                  (value_flag_counter.hpp)
//   FutexFlag      an mpkit::Event: one load to poll, and waiters can sleep
//                  until set (futex_flag.hpp); models WaitableFlag too
//   RedisFlag      GET/SET of a key on a Redis server (mpkit::ipc_remote,
//                  mpkit/ipc/remote/redis_flag_counter.hpp)
//   ManagerFlag    a request/response per call to a Manager server process
//                  (mpkit::ipc_remote, mpkit/ipc/remote/manager_flag_counter.hpp);
//                  throws on a dead server
//
// Semantics shared by every backend
//   - A new flag is clear. set() and clear() are idempotent; is_set() reports
//     the last value stored by anyone, or one that is being stored now.
//   - A handle is made in the parent (create()) and used by the parent and
//     every child it forks afterwards; threads of one process may share one
//     handle. The handle is move-only; its memory (or key) is shared.
//   - Shared-memory backends never throw after create() (ValueFlag only on
//     a lock declared not recoverable, which its own protocol never causes);
//     a remote backend (Redis, Manager) throws std::system_error naming the
//     key when its server cannot be reached within its timeout.
//   - Cost of is_set(), the call a worker polls: one load (Atomic, RawValue,
//     Futex), a lock + load + unlock (Value), a round trip (Redis).
//
// Example
//   auto found = mpkit::AtomicFlag::create();
//   mpkit::Process worker([&] {
//     for (auto block : blocks) {
//       if (found.is_set()) return;
//       if (search(block)) found.set();
//     }
//   });
//   static_assert(mpkit::Flag<mpkit::AtomicFlag>);

#include <concepts>

#include "mpkit/ipc/futex.hpp"

namespace mpkit {

/// What every flag backend offers.
template <class F>
concept Flag = requires(F& flag) {
  flag.set();
  flag.clear();
  { flag.is_set() } -> std::same_as<bool>;
};

/// A flag a caller can sleep on: wait_until returns true as soon as the flag
/// is set (or was set at some point since the call began), false once
/// `deadline` has passed without that.
template <class F>
concept WaitableFlag = Flag<F> && requires(F& flag, Deadline deadline) {
  { flag.wait_until(deadline) } -> std::same_as<bool>;
};

}  // namespace mpkit
