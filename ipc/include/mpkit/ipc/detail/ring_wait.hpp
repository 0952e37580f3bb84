#pragma once

// RingGate: where the waiters of a ring park, and how the other side wakes
// them without a system call while nobody is parked.
//
// Protocol (an "eventcount", one per direction: consumers waiting for items,
// producers waiting for room)
//   - A waiter first spins (detail::spin_until, ~2.5 µs): a hand-off about to
//     happen costs ~40 ns, a futex wake ~20 µs (NOTES.md).
//   - Then it parks: waiters += 1; seq_cst fence; s = seq; re-checks its
//     condition; futex_wait(seq, s) for at most one slice; waiters -= 1.
//   - The other side, after publishing (a release store of an index or a
//     slot's sequence number), runs a seq_cst fence and reads `waiters`; only
//     if it is non-zero does it bump `seq` and FUTEX_WAKE. So the fast path
//     costs one fence and one load of a line nobody writes, and no system
//     call while the peer is awake.
//   - No lost wake-up: the two fences are ordered. If the publisher's fence
//     comes first, the waiter's re-check sees the published index and does
//     not sleep. If the waiter's fence comes first, the publisher sees
//     waiters != 0 and bumps seq; the waiter either read seq before the bump
//     (futex_wait returns at once, the value changed) or after it (acquire:
//     then it also sees the publication and does not sleep).
//   - Every wait is bounded by a slice (kRingWaitSlice): a waiter that slept a
//     whole slice without a wake asks the ring whether its peers are still
//     alive (the `on_idle_slice` callback), so a killed peer is noticed
//     within a slice plus a /proc read, never waited for forever.
//   Layout: both words on one cache line of their own, so parking and waking
//     never touch the lines that carry the indices.
//
// Memory ordering: `seq` is bumped with release and read with acquire (see
// above); `waiters` is ordered by the seq_cst fences on both sides.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/queue.hpp"

namespace mpkit::detail {

/// How long a parked ring waiter sleeps before it checks its peers are alive.
inline constexpr std::chrono::milliseconds kRingWaitSlice{4};

struct alignas(kCacheLineSize) RingGate {
  std::atomic<std::uint32_t> seq{0};      // futex word: bumped on every wake
  std::atomic<std::uint32_t> waiters{0};  // how many are parked (or about to park)
};
static_assert(sizeof(RingGate) == kCacheLineSize, "a gate owns exactly one cache line");
static_assert(std::is_standard_layout_v<RingGate> && std::is_trivially_destructible_v<RingGate>);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

/// Publisher side: call after the release store that publishes. Wakes up to
/// `count` parked waiters, and makes no system call if none is parked.
inline void wake_parked(RingGate& gate, int count) noexcept {
  // seq_cst fence: orders our publication before the read of `waiters`
  // (StoreLoad), pairing with the waiter's fence (see the file comment).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // relaxed: ordered by the fence above.
  if (gate.waiters.load(std::memory_order_relaxed) != 0) [[unlikely]] {
    // release: a waiter that reads the new seq (acquire) sees our publication.
    gate.seq.fetch_add(1, std::memory_order_release);
    (void)futex_wake(gate.seq, count);
  }
}

/// close(): wakes every waiter unconditionally (rare; no fence games).
inline void wake_all_parked(RingGate& gate) noexcept {
  gate.seq.fetch_add(1, std::memory_order_seq_cst);
  (void)futex_wake_all(gate.seq);
}

/// Waits until `ready()` holds. Returns nullopt when it does (the caller
/// retries its operation), kTimedOut once `deadline` has passed, or whatever
/// `on_idle_slice()` returns when it returns a status (it runs after every
/// slice slept without a wake, and may throw).
template <class Ready, class OnIdleSlice>
[[nodiscard]] std::optional<QueueStatus> park_until(RingGate& gate, Ready&& ready,
                                                    std::optional<Deadline> deadline,
                                                    OnIdleSlice&& on_idle_slice) {
  if (spin_until(ready)) return std::nullopt;
  for (;;) {
    // relaxed RMW: the fence below orders it before the re-check.
    gate.waiters.fetch_add(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with wake_parked's fence
    // acquire: pairs with wake_parked's release bump of seq.
    const std::uint32_t observed = gate.seq.load(std::memory_order_acquire);
    if (ready()) {
      gate.waiters.fetch_sub(1, std::memory_order_relaxed);  // relaxed: a count, no data
      return std::nullopt;
    }
    const Deadline now = Clock::now();
    if (deadline && now >= *deadline) {
      gate.waiters.fetch_sub(1, std::memory_order_relaxed);  // relaxed: a count, no data
      return QueueStatus::kTimedOut;
    }
    Deadline wake_at = now + kRingWaitSlice;
    if (deadline && *deadline < wake_at) wake_at = *deadline;
    const FutexWaitResult result = futex_wait(gate.seq, observed, wake_at);
    gate.waiters.fetch_sub(1, std::memory_order_relaxed);  // relaxed: a count, no data
    if (ready()) return std::nullopt;
    if (result == FutexWaitResult::kTimedOut && !(deadline && Clock::now() >= *deadline)) {
      if (std::optional<QueueStatus> verdict = on_idle_slice()) return verdict;
    }
  }
}

}  // namespace mpkit::detail
