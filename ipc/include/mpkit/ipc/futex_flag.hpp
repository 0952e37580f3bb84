#pragma once

// FutexFlag: a flag that is as cheap to poll as AtomicFlag and that a
// process can also SLEEP on until it is set -- the "faster idea" of
// EXPERIMENTS.md §1 (beyond the book). Workers poll is_set() in their hot
// loop (one load); the parent, instead of polling or joining each worker in
// turn, blocks in wait_until() and wakes the moment any worker sets it.
//
// Why it is defensible: polling costs the same as AtomicFlag (one acquire
// load, no system call), set() costs one atomic RMW plus a FUTEX_WAKE only
// when someone is asleep on the word (~0.3 µs; ARCHITECTURE.md machine notes "system-call
// floor"), and a sleeping waiter burns no CPU -- on a 2-core machine a
// polling parent would steal a core from a worker.
//
// Who may call what
//   Any thread of the creating process and of every process it forks after
//   create(), concurrently; any of them may wait.
//
// Protocol
//   The flag is one mpkit::Event (event.hpp, whose protocol this reuses
//   rather than re-derives): a futex word holding set bit + generation, and a
//   sleepers count. set(): CAS the word to set (new generation); FUTEX_WAKE
//   all only if it was a clear -> set transition and sleepers != 0.
//   clear(): clears the bit, wakes nobody. is_set(): one acquire load.
//   wait_until(): spin ~2.5 µs, then sleep on the futex word until it
//   changes or the deadline passes. A waiter already waiting when set() ran
//   returns true even if clear() follows at once.
//   Layout: the Event's 8 bytes alone in their 64-byte line after
//   SharedObject's header line.
//
// What a SIGKILL of a user does: nothing to repair -- no lock is held.
// A waiter killed while asleep leaves sleepers one too high for good, which
// only costs every later set() one useless FUTEX_WAKE; a setter killed
// between its CAS and its wake leaves current waiters asleep until their
// deadline (always pass one).
//
// Memory ordering: set() is a seq_cst read-modify-write and is_set()/
// wait_until() read with acquire, so whoever observes the flag set sees
// everything written before set() (Event's "Memory ordering").
//
// Contract
//   Requires: a handle that was not moved from.
//   Guarantees: wait_until returns true once the flag is set (or a set()
//             happened since it began), false only after `deadline` passed
//             without one; signals neither shorten nor lengthen it.
//   Throws:   create(): std::system_error if the mapping fails. Nothing else.
//   Thread safety: any thread of any process sharing the mapping.
//
// Example
//   auto found = mpkit::FutexFlag::create();
//   /* workers */ if (found.is_set()) return;  ...  found.set();
//   /* parent  */ if (found.wait_for(std::chrono::seconds(10))) stop_everyone();

#include <chrono>
#include <cstdint>
#include <utility>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/event.hpp"
#include "mpkit/ipc/flag.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/shared_object.hpp"

namespace mpkit {
namespace detail {

struct alignas(kCacheLineSize) FutexFlagCell {
  static constexpr std::uint32_t kLayoutVersion = 1;
  Event event;
};
static_assert(sizeof(FutexFlagCell) == kCacheLineSize, "the futex word owns its cache line");

}  // namespace detail

class FutexFlag {
 public:
  /// A clear flag in a fresh anonymous mapping that forked children inherit.
  [[nodiscard]] static FutexFlag create() {
    return FutexFlag(SharedObject<detail::FutexFlagCell>::anonymous());
  }

  /// Sets the flag; wakes sleepers only on a clear -> set transition.
  void set() noexcept { cell_->event.set(); }
  /// Clears the flag; wakes nobody.
  void clear() noexcept { cell_->event.clear(); }
  /// One acquire load (Event::is_set), pairs with set().
  [[nodiscard]] bool is_set() const noexcept { return cell_->event.is_set(); }

  /// Blocks until set (true) or until `deadline` passes (false).
  [[nodiscard]] bool wait_until(Deadline deadline) noexcept {
    return cell_->event.wait_until(deadline);
  }
  template <class Rep, class Period>
  [[nodiscard]] bool wait_for(const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return wait_until(detail::deadline_in(timeout));
  }

 private:
  explicit FutexFlag(SharedObject<detail::FutexFlagCell> cell) noexcept : cell_(std::move(cell)) {}
  SharedObject<detail::FutexFlagCell> cell_;
};

static_assert(WaitableFlag<FutexFlag>);

}  // namespace mpkit
