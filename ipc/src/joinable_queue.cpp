// JoinableQueue's shared task count: counting, task_done and join. The
// protocol is in joinable_queue.hpp.

#include "mpkit/ipc/joinable_queue.hpp"

#include <stdexcept>

#include "mpkit/ipc/futex.hpp"

namespace mpkit::detail {

void TaskCount::add() noexcept {
  // acq_rel: one link of the RMW chain every task_done reads (see the header).
  unfinished.fetch_add(1, std::memory_order_acq_rel);
}

void TaskCount::done() {
  // relaxed: a first guess; the CAS below carries the ordering.
  std::uint64_t count = unfinished.load(std::memory_order_relaxed);
  // Cases:
  //  (1) count is 0: more task_done() calls than items; refuse, change nothing.
  //  (2) the CAS count -> count - 1 succeeds: one task finished; if that was
  //      the last, wake the joiners.
  //  (3) the CAS fails (a push or another task_done moved the count): it left
  //      the fresh value in `count`; go round.
  for (;;) {
    if (count == 0) {  // case (1)
      throw std::logic_error(
          "JoinableQueue::task_done: called more times than items were pushed (Python: ValueError)");
    }
    // acq_rel: releases this consumer's work to joiners; relaxed on failure: retried.
    if (unfinished.compare_exchange_weak(count, count - 1, std::memory_order_acq_rel,
                                         std::memory_order_relaxed)) {
      if (count == 1) reached_zero();  // case (2)
      return;
    }
    // case (3)
  }
}

void TaskCount::undo() noexcept {
  // acq_rel: as done(); the caller's add() guarantees the count is >= 1.
  if (unfinished.fetch_sub(1, std::memory_order_acq_rel) == 1) reached_zero();
}

void TaskCount::reached_zero() noexcept {
  zero_epoch.fetch_add(1);      // seq_cst: the Dekker pair with a joiner's sleepers++
  if (sleepers.load() != 0) {   // seq_cst: the other half
    futex_wake_all(zero_epoch);
  }
}

bool TaskCount::join(std::optional<Deadline> deadline) noexcept {
  // A: the epoch first, then the count (B): a zero reached after B bumps the
  // epoch past the value read at A, so it is never slept through.
  const std::uint32_t epoch = zero_epoch.load(std::memory_order_acquire);  // A
  auto finished = [&] {
    // acquire: pairs with the bump / the RMW chain, so the consumers' work is visible.
    return unfinished.load(std::memory_order_acquire) == 0 ||  // B
           zero_epoch.load(std::memory_order_acquire) != epoch;
  };
  if (finished()) return true;
  if (spin_until(finished)) return true;

  sleepers.fetch_add(1);  // seq_cst: see "Memory ordering" in the header
  bool joined = false;
  for (;;) {
    if (finished()) {
      joined = true;
      break;
    }
    // Woken, value changed, or interrupted by a signal: re-check. The
    // deadline is absolute, so a signal does not move it.
    if (futex_wait(zero_epoch, epoch, deadline) == FutexWaitResult::kTimedOut) {
      joined = finished();  // a zero reached at the last moment still counts
      break;
    }
  }
  // relaxed: a waker that still sees us makes one useless wake call.
  sleepers.fetch_sub(1, std::memory_order_relaxed);
  return joined;
}

}  // namespace mpkit::detail
