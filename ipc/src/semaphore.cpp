// Semaphore: taking and giving units. The protocol is in semaphore.hpp.

#include "mpkit/ipc/semaphore.hpp"

#include <cassert>
#include <climits>

namespace mpkit {

bool Semaphore::try_acquire() noexcept {
  // relaxed: a first guess; the CAS below carries the acquire.
  std::uint32_t count = count_.load(std::memory_order_relaxed);
  // Cases:
  //  (1) count is 0: nothing to take.
  //  (2) the CAS count -> count - 1 succeeds: one unit is ours.
  //  (3) the CAS fails (another acquirer or a releaser moved count_): it left
  //      the fresh value in `count`; go round.
  while (count != 0) {  // case (1) ends the loop
    // acquire: pairs with release()'s fetch_add. relaxed on failure: retried.
    if (count_.compare_exchange_weak(count, count - 1, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return true;  // case (2)
    }
    // case (3)
  }
  return false;
}

bool Semaphore::acquire_impl(std::optional<Deadline> deadline) noexcept {
  if (try_acquire()) return true;
  if (detail::spin_until([&] { return try_acquire(); })) return true;

  sleepers_.fetch_add(1);  // seq_cst: see "Memory ordering" in the header
  bool acquired = false;
  for (;;) {
    if (try_acquire()) {
      acquired = true;
      break;
    }
    // Woken, value changed, interrupted by a signal: go round and try again.
    // The deadline is absolute, so a signal does not move it.
    if (futex_wait(count_, 0, deadline) == FutexWaitResult::kTimedOut) {
      acquired = try_acquire();  // a unit released at the last moment still counts
      break;
    }
  }
  // relaxed: a releaser that still sees us makes one useless wake call.
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
  return acquired;
}

void Semaphore::release(std::uint32_t n) noexcept {
  if (n == 0) return;
  // seq_cst: a release for the data, and the Dekker pair with sleepers_++.
  [[maybe_unused]] const std::uint32_t previous = count_.fetch_add(n);
  assert(previous <= max() - n && "Semaphore::release: the value would exceed max()");
  if (sleepers_.load() != 0) {  // seq_cst: the other half of the pair
    futex_wake(count_, n > static_cast<std::uint32_t>(INT_MAX) ? INT_MAX : static_cast<int>(n));
  }
}

}  // namespace mpkit
