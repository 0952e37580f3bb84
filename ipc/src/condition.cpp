// Condition: waiting and notifying. The protocol is in condition.hpp.

#include "mpkit/ipc/condition.hpp"

namespace mpkit {

bool Condition::wait_impl(Mutex& mutex, std::optional<Deadline> deadline) {
  // A. relaxed: this load is ordered before mutex.unlock()'s release; a
  // notifier that changed the predicate under the mutex increments seq_ after
  // taking the mutex, so we cannot have read its increment already.
  const std::uint32_t seq = seq_.load(std::memory_order_relaxed);
  mutex.unlock();

  bool notified = detail::spin_until(
      // relaxed: seeing the change is all we need; the mutex orders the data.
      [&] { return seq_.load(std::memory_order_relaxed) != seq; });
  if (!notified) {
    sleepers_.fetch_add(1);  // seq_cst: see "Memory ordering" in the header
    for (;;) {
      const FutexWaitResult result = futex_wait(seq_, seq, deadline);
      if (result == FutexWaitResult::kInterrupted) continue;  // same absolute deadline
      notified = result != FutexWaitResult::kTimedOut;
      break;
    }
    // relaxed: a notifier that still sees us makes one useless wake call.
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

  mutex.lock();
  return notified;
}

void Condition::notify_one() noexcept {
  seq_.fetch_add(1);                                // B. seq_cst: pairs with the
  if (sleepers_.load() != 0) futex_wake(seq_, 1);  // waiter's sleepers_++ (Dekker)
}

void Condition::notify_all() noexcept {
  seq_.fetch_add(1);  // B. seq_cst, as in notify_one
  if (sleepers_.load() != 0) futex_wake_all(seq_);
}

}  // namespace mpkit
