#pragma once

// TicketLock: FIFO spin lock, a bakery with two counters.
//
// Protocol
//   next_    the next ticket to hand out; every locker increments it once.
//   serving_ the ticket that may enter; only the holder writes it.
//   The lock is free exactly when serving_ == next_. Both wrap at 2^32,
//   harmlessly: only equality matters, and fewer than 2^32 lockers wait.
//   - lock: t = next_.fetch_add(1); spin until serving_ == t (acquire).
//     Waiters only read serving_, so a release costs one line transfer per
//     waiter, and hand-offs are strictly in ticket order: fair, and the
//     reason for its collapse when waiters outnumber cores -- the next
//     ticket holder may be descheduled while everyone behind it spins
//     (the contention experiment shows it).
//   - try_lock: s = serving_; CAS next_ from s to s + 1. It succeeds only if
//     next_ == s, i.e. nobody holds or waits (serving_ only grows towards
//     next_, so the s read earlier is still current when the CAS sees next_ == s).
//   - try_lock_until: polls try_lock (detail/poll.hpp): a taken ticket cannot
//     be given back, so a bounded waiter never queues. Under contention it
//     can lose to queued waiters until its deadline; it never hangs.
//   - unlock: serving_ + 1, stored with release.
//   Owner death: serving_ never advances; every queued lock() spins for
//     ever, try_lock_until times out.
//   Waiter death: a waiter killed inside lock() has taken its ticket and
//     will never pass it on. Once serving_ reaches that ticket (at the
//     holder's unlock, if it was next) the lock is wedged for good: every
//     queued lock() spins for ever, try_lock and try_lock_until fail (at
//     their deadline; they never hang and never take a ticket, so a bounded
//     waiter that is killed wedges nothing). Nothing records which process
//     holds which ticket, so it cannot be repaired (kSurvivesWaiterDeath =
//     false); use a lock that survives waiter death where waiters may die.
//   Layout: 8 bytes in one line (the holder touches both), all zero = free.
//
// Memory ordering: the waiter's load of serving_ that sees its ticket is
// acquire and the holder's store of serving_ + 1 is release, so each holder
// sees the previous one's writes; try_lock's load of serving_ is acquire for
// the same reason (the release store that made serving_ == next_), and its
// CAS of next_ then only claims the ticket (relaxed).

#include <atomic>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/locking/detail/poll.hpp"
#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {

class TicketLock : public detail::TimedLock<TicketLock> {
 public:
  static constexpr std::string_view kName = "ticket";
  static constexpr bool kSurvivesOwnerDeath = false;
  static constexpr bool kSurvivesWaiterDeath = false;  // its ticket is never served: see "Waiter death"
  static constexpr bool kReportsOwnerDeath = false;
  static constexpr bool kExcludesThreads = true;
  static constexpr bool kValidAsZeroBytes = true;
  static constexpr bool kSleeps = false;

  constexpr TicketLock() noexcept = default;
  TicketLock(const TicketLock&) = delete;
  TicketLock& operator=(const TicketLock&) = delete;
  TicketLock(TicketLock&&) = delete;
  TicketLock& operator=(TicketLock&&) = delete;
  ~TicketLock() = default;

  void lock() noexcept {
    // relaxed: taking a ticket publishes nothing; the wait below acquires.
    const std::uint32_t ticket = next_.fetch_add(1, std::memory_order_relaxed);
    // acquire: pairs with unlock()'s release store of our ticket.
    while (serving_.load(std::memory_order_acquire) != ticket) mpkit::detail::cpu_relax();
  }
  [[nodiscard]] bool try_lock() noexcept {
    // acquire: pairs with the unlock() that stored this value of serving_;
    // the CAS on next_ cannot, as nobody releases through next_ (TSan
    // caught the relaxed version).
    std::uint32_t serving = serving_.load(std::memory_order_acquire);
    // relaxed: the ordering came with the load above; the CAS only claims
    // the ticket.
    return next_.compare_exchange_strong(serving, serving + 1, std::memory_order_relaxed,
                                         std::memory_order_relaxed);
  }
  [[nodiscard]] bool try_lock_until(Deadline deadline) noexcept {
    return detail::spin_poll_until([this]() noexcept { return try_lock(); }, deadline);
  }
  void unlock() noexcept {
    // relaxed load: only the holder writes serving_, and we are the holder.
    const std::uint32_t serving = serving_.load(std::memory_order_relaxed);
    serving_.store(serving + 1, std::memory_order_release);  // release: publishes the section
  }

 private:
  std::atomic<std::uint32_t> next_{0};     // tickets handed out; every locker
  std::atomic<std::uint32_t> serving_{0};  // ticket allowed in; the holder only
};

static_assert(std::is_standard_layout_v<TicketLock> && std::is_trivially_destructible_v<TicketLock>,
              "TicketLock lives in shared memory: standard layout, nothing to destroy");
static_assert(sizeof(TicketLock) == 8, "two 32-bit counters in one line");

}  // namespace mpkit::locking
