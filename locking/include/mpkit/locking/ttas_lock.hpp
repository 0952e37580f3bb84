#pragma once

// TtasLock: test-and-test-and-set spin lock with exponential backoff.
//
// Protocol
//   word_ is 0 (free) or 1 (held); any participant may write it.
//   - lock: try one exchange(1, acquire). While it fails: read the word
//     (relaxed) until it looks free -- reads share the line, so waiters stop
//     stealing it from the holder -- then back off an exponentially growing
//     number of pauses (1, 2, 4, ... kMaxBackoff) and try the exchange again.
//     The backoff spreads the stampede that follows each release (Anderson
//     1990; Mellor-Crummey & Scott 1991).
//   - try_lock: one exchange. try_lock_until: polls try_lock (detail/poll.hpp).
//   - unlock: store(0, release).
//   Owner death: as TasLock -- the word stays 1, lock() spins for ever,
//     try_lock_until times out.
//   Layout: 4 bytes, all zero = free.
//
// Memory ordering: the exchange that takes the lock is acquire and the store
// that frees it is release; the reads in between only decide when to try and
// order nothing (relaxed).

#include <atomic>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/locking/detail/poll.hpp"
#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {

class TtasLock : public detail::TimedLock<TtasLock> {
 public:
  static constexpr std::string_view kName = "ttas";
  static constexpr bool kSurvivesOwnerDeath = false;
  static constexpr bool kSurvivesWaiterDeath = true;  // a waiter holds nothing: it only reads and retries
  static constexpr bool kReportsOwnerDeath = false;
  static constexpr bool kExcludesThreads = true;
  static constexpr bool kValidAsZeroBytes = true;
  static constexpr bool kSleeps = false;

  /// Most pauses between two attempts: ~1.5 µs at this VM's 24 ns PAUSE,
  /// about one holder's short critical section plus a line transfer.
  static constexpr std::uint32_t kMaxBackoff = 64;

  constexpr TtasLock() noexcept = default;
  TtasLock(const TtasLock&) = delete;
  TtasLock& operator=(const TtasLock&) = delete;
  TtasLock(TtasLock&&) = delete;
  TtasLock& operator=(TtasLock&&) = delete;
  ~TtasLock() = default;

  void lock() noexcept {
    if (try_lock()) [[likely]] return;
    lock_contended();
  }
  [[nodiscard]] bool try_lock() noexcept {
    return word_.exchange(1, std::memory_order_acquire) == 0;  // acquire: pairs with unlock()
  }
  [[nodiscard]] bool try_lock_until(Deadline deadline) noexcept {
    return detail::spin_poll_until([this]() noexcept { return try_lock(); }, deadline);
  }
  void unlock() noexcept {
    word_.store(0, std::memory_order_release);  // release: publishes the critical section
  }

 private:
  void lock_contended() noexcept {
    for (std::uint32_t backoff = 1;;) {
      // relaxed: only decides when to try; the exchange carries the acquire.
      while (word_.load(std::memory_order_relaxed) != 0) mpkit::detail::cpu_relax();
      if (try_lock()) return;
      for (std::uint32_t i = 0; i < backoff; ++i) mpkit::detail::cpu_relax();
      if (backoff < kMaxBackoff) backoff *= 2;
    }
  }

  std::atomic<std::uint32_t> word_{0};  // 0 free, 1 held
};

static_assert(std::is_standard_layout_v<TtasLock> && std::is_trivially_destructible_v<TtasLock>,
              "TtasLock lives in shared memory: standard layout, nothing to destroy");
static_assert(sizeof(TtasLock) == 4, "one 32-bit word");

}  // namespace mpkit::locking
