#pragma once

// TasLock: test-and-set spin lock, one 32-bit word.
//
// Protocol
//   word_ is 0 (free) or 1 (held); any participant may write it.
//   - lock: exchange(1, acquire) until it returns 0, one pause between tries.
//     Every try is a read-modify-write, so waiters keep pulling the line in
//     exclusive state, from each other and from the holder about to release:
//     the textbook lock TTAS improves on (Anderson 1990).
//   - try_lock: one exchange. try_lock_until: polls try_lock with backoff,
//     reading the clock every 64 tries (detail/poll.hpp).
//   - unlock: store(0, release).
//   Owner death: the word stays 1 for ever; lock() of a waiter spins for
//     ever, try_lock_until returns false at its deadline (the experiments'
//     bound). Not recoverable: nothing says who held it.
//   Layout: 4 bytes, all zero = free. Give a contended lock its own cache
//     line, or its spinners slow down the data next to it.
//
// Memory ordering: the exchange that takes the lock is acquire and the store
// that frees it is release, so each holder sees everything the previous one
// wrote.

#include <atomic>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/locking/detail/poll.hpp"
#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {

class TasLock : public detail::TimedLock<TasLock> {
 public:
  static constexpr std::string_view kName = "tas";
  static constexpr bool kSurvivesOwnerDeath = false;
  static constexpr bool kSurvivesWaiterDeath = true;  // a waiter holds nothing: it only retries the exchange
  static constexpr bool kReportsOwnerDeath = false;
  static constexpr bool kExcludesThreads = true;
  static constexpr bool kValidAsZeroBytes = true;
  static constexpr bool kSleeps = false;

  constexpr TasLock() noexcept = default;
  TasLock(const TasLock&) = delete;
  TasLock& operator=(const TasLock&) = delete;
  TasLock(TasLock&&) = delete;
  TasLock& operator=(TasLock&&) = delete;
  ~TasLock() = default;

  void lock() noexcept {
    // acquire: pairs with unlock()'s release.
    while (word_.exchange(1, std::memory_order_acquire) != 0) mpkit::detail::cpu_relax();
  }
  [[nodiscard]] bool try_lock() noexcept {
    return word_.exchange(1, std::memory_order_acquire) == 0;  // acquire: as in lock()
  }
  [[nodiscard]] bool try_lock_until(Deadline deadline) noexcept {
    return detail::spin_poll_until([this]() noexcept { return try_lock(); }, deadline);
  }
  void unlock() noexcept {
    word_.store(0, std::memory_order_release);  // release: publishes the critical section
  }

 private:
  std::atomic<std::uint32_t> word_{0};  // 0 free, 1 held
};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "shared memory needs lock-free atomics");
static_assert(std::is_standard_layout_v<TasLock> && std::is_trivially_destructible_v<TasLock>,
              "TasLock lives in shared memory: standard layout, nothing to destroy");
static_assert(sizeof(TasLock) == 4, "one 32-bit word");

}  // namespace mpkit::locking
