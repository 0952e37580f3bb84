#pragma once

// Semaphore: a counting semaphore for threads of several processes, in the
// vocabulary of std::counting_semaphore.
//
// Protocol
//   count_, the futex word, holds the units available; sleepers_ counts the
//   acquirers that are asleep, or about to be, on count_.
//   - try_acquire: CAS count_ -> count_ - 1 while count_ > 0.
//   - acquire: try; spin ~2.5 µs trying (detail/spin.hpp); then sleepers_++
//     and loop { try; futex_wait(count_, 0) }; sleepers_--.
//   - release(n): count_ += n; then, only if sleepers_ != 0, FUTEX_WAKE n.
//   Not fair: a newcomer may take a unit before a woken sleeper does (that
//   sleeper sleeps again; no unit is lost).
//   No owner: a process killed between acquire() and release() loses its unit
//   for good, and nothing can tell. Whoever might wait on a unit held by
//   another process should use try_acquire_for/until and decide what a
//   time-out means (Python's multiprocessing.Semaphore has the same hole;
//   Mutex is the primitive that detects a dead holder).
//   Layout: 8 bytes, one cache line; zero bytes are a Semaphore of value 0.
//
// Memory ordering: release()'s fetch_add and the CAS that takes a unit are a
// release/acquire pair, so whatever the releaser wrote before release() is
// visible after acquire(). The fetch_add, sleepers_++ and the load of
// sleepers_ are seq_cst: a releaser that reads sleepers_ == 0 was ordered
// before the sleeper's increment, whose futex_wait then sees the new count
// (ipc/README.md, "Futex").
//
// Contract
//   Requires: release(n) keeps the value <= max() (asserted in debug builds).
//   Guarantees: acquire() returns having taken one unit; try_* return true
//             having taken one, false only once the deadline has passed
//             (signals neither shorten nor lengthen it).
//   Throws: nothing.
//   Thread safety: any thread of any process, concurrently.
//
// Example
//   auto* items = new (shared_page) mpkit::Semaphore(0);
//   /* producer */ push(item); items->release();
//   /* consumer */ if (items->try_acquire_for(std::chrono::seconds(1))) pop();

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/futex.hpp"

namespace mpkit {

class Semaphore {
 public:
  explicit constexpr Semaphore(std::uint32_t initial = 0) noexcept : count_(initial) {}
  // It lives at one place in shared memory, where others find it: never
  // copied or moved. Trivially destructible: a process may just unmap it.
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  Semaphore(Semaphore&&) = delete;
  Semaphore& operator=(Semaphore&&) = delete;
  ~Semaphore() = default;

  [[nodiscard]] static constexpr std::uint32_t max() noexcept {
    return std::numeric_limits<std::uint32_t>::max();
  }

  /// Adds `n` units and wakes up to `n` sleepers.
  void release(std::uint32_t n = 1) noexcept;

  /// Takes one unit, sleeping while there is none.
  void acquire() noexcept { (void)acquire_impl(std::nullopt); }

  /// Takes one unit if there is one; never sleeps.
  [[nodiscard]] bool try_acquire() noexcept;

  template <class Rep, class Period>
  [[nodiscard]] bool try_acquire_for(const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return acquire_impl(detail::deadline_in(timeout));
  }
  [[nodiscard]] bool try_acquire_until(Deadline deadline) noexcept {
    return acquire_impl(deadline);
  }

  /// The number of units, as of some recent moment.
  [[nodiscard]] std::uint32_t value_guess() const noexcept {
    return count_.load(std::memory_order_relaxed);  // relaxed: a snapshot, orders nothing
  }

 private:
  [[nodiscard]] bool acquire_impl(std::optional<Deadline> deadline) noexcept;

  std::atomic<std::uint32_t> count_;        // the futex word: units available
  std::atomic<std::uint32_t> sleepers_{0};  // acquirers parked, or about to park, on count_
};

static_assert(std::is_standard_layout_v<Semaphore>,
              "Semaphore lives in shared memory: standard layout");
static_assert(std::is_trivially_destructible_v<Semaphore>,
              "a process may unmap a Semaphore without running anything");
static_assert(sizeof(Semaphore) == 8, "Semaphore is two 32-bit words, no padding");

}  // namespace mpkit
