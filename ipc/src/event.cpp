// Event: setting, clearing, waiting. The protocol is in event.hpp.

#include "mpkit/ipc/event.hpp"

namespace mpkit {

void Event::set() noexcept {
  // relaxed: a first guess; the CAS below re-reads and orders.
  std::uint32_t word = word_.load(std::memory_order_relaxed);
  // Cases:
  //  (1) clear: CAS to the next generation with the set bit; if it succeeds,
  //      wake the sleepers, if any.
  //  (2) already set: CAS to the same value, a read-modify-write that still
  //      publishes this caller's writes (see "Memory ordering"); no wake.
  //  (3) the CAS fails (a concurrent set or clear): it left the fresh value
  //      in `word`; go round.
  for (;;) {
    const bool was_set = (word & kSetBit) != 0;
    const std::uint32_t next = was_set ? word : ((word + kGenerationOne) | kSetBit);
    // seq_cst: a release for the data, and the Dekker pair with sleepers_++.
    if (word_.compare_exchange_weak(word, next)) {
      if (!was_set && sleepers_.load() != 0) futex_wake_all(word_);  // case (1)
      return;                                                        // case (2)
    }
    // case (3)
  }
}

void Event::clear() noexcept {
  word_.fetch_and(~kSetBit);  // seq_cst: rare, and simplest to reason about
}

bool Event::wait_impl(std::optional<Deadline> deadline) noexcept {
  // A. acquire: if it reads a set word, the setter's writes are visible.
  const std::uint32_t start = word_.load(std::memory_order_acquire);
  if ((start & kSetBit) != 0) return true;
  // From a clear `start`, any change of the word is a set(), possibly
  // followed by clear(): clear() alone never changes a clear word.
  const auto changed = [&] { return word_.load(std::memory_order_acquire) != start; };  // as A

  if (detail::spin_until(changed)) return true;
  sleepers_.fetch_add(1);  // seq_cst: see "Memory ordering" in the header
  bool released = false;
  for (;;) {
    const FutexWaitResult result = futex_wait(word_, start, deadline);
    if (changed()) {
      released = true;
      break;
    }
    // Woken spuriously or interrupted by a signal: sleep again, until the same
    // absolute deadline.
    if (result == FutexWaitResult::kTimedOut) break;
  }
  // relaxed: a setter that still sees us makes one useless wake call.
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
  return released;
}

}  // namespace mpkit
