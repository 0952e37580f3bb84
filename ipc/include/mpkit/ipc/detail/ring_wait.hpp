#pragma once

// RingGate: where the waiters of a ring park, and how the other side wakes
// them without a system call while nobody is parked.
//
// Protocol (an "eventcount", one per direction: consumers waiting for items,
// producers waiting for room)
//   - A waiter first spins (detail::spin_until, ~2.5 µs to start with): a
//     hand-off about to happen costs ~40 ns, a futex wake ~20 µs (ARCHITECTURE.md machine notes).
//   - The spin adapts, per thread. A fixed short spin has a stable slow
//     state: in a ping-pong where both sides once parked, each reply comes
//     a wake-up (~20-30 µs) after the request, longer than the spin, so both
//     sides park on every message and a round trip costs two wake-ups (~32
//     us measured here, against ~0.5 us spinning). So a waiter that parked
//     and was woken with its condition true within kShortPark doubles its
//     spin budget (up to kMaxRingSpin pauses, ~80 us here): after a few
//     round trips one side outlasts the other's wake-up, both stay awake,
//     and the round trip falls to a cache-line hand-off. A park that lasted
//     longer (an idle queue) or a slice spent asleep halves it again, down
//     to kSpinLimit; so an idle waiter burns at most one short spin per
//     wake-up.
//   - Then it parks: waiters += 1; seq_cst fence; s = seq; re-checks its
//     condition; futex_wait(seq, s) for at most one slice.
//   - The other side, after publishing (a release store of an index or a
//     slot's sequence number), runs a StoreLoad barrier and reads `waiters`;
//     only if it is non-zero does it exchange it to 0 and, if it won that
//     exchange, bump `seq` and FUTEX_WAKE everyone. So the fast path costs
//     one barrier and one load of a line nobody writes, and no system call
//     while the peer is awake.
//   - The barrier is asymmetric where the kernel allows (membarrier(2),
//     MEMBARRIER_CMD_GLOBAL_EXPEDITED): a publisher registered for it runs
//     only a compiler barrier, and the waiter, on its way to sleep, runs
//     membarrier(), which makes every running thread of every registered
//     process execute a full barrier (one that is not running has passed
//     through a context switch, which is one). A seq_cst fence costs ~17 ns
//     on this VM -- more than a whole 8-byte SPSC hand-off -- while the
//     waiter's membarrier (~0.6 us here) is paid only by a side that is about
//     to sleep for ~20 us anyway. A process registers on its first
//     publication; where membarrier is missing or refused, publishers keep
//     the seq_cst fence and waiters add theirs (the classic symmetric pair).
//   - No lost wake-up: the two barriers are ordered. If the publisher's
//     barrier comes first, the waiter's re-check sees the published index and
//     does not sleep. If the waiter's comes first, the publisher sees
//     waiters != 0 and bumps seq; the waiter either read seq before the bump
//     (futex_wait returns at once, the value changed) or after it (acquire:
//     then it also sees the publication and does not sleep). Even a missed
//     wake-up would cost one slice, never a hang: every sleep is bounded by
//     kRingWaitSlice and re-checks its condition.
//   - Every wait is bounded by a slice (kRingWaitSlice): a waiter that slept a
//     whole slice without a wake asks the ring whether its peers are still
//     alive (the `on_idle_slice` callback), so a killed peer is noticed
//     within a slice plus a /proc read, never waited for forever.
//   Layout: both words on one cache line of their own, so parking and waking
//     never touch the lines that carry the indices.
//
// Memory ordering: `seq` is bumped with release and read with acquire (see
// above); `waiters` is ordered by the StoreLoad barriers on both sides
// (membarrier + compiler barrier, or seq_cst fences; seq_cst RMWs under TSan,
// see kRingFenceAsRmw).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit::detail {

/// How long a parked ring waiter sleeps before it checks its peers are alive.
inline constexpr std::chrono::milliseconds kRingWaitSlice{4};

/// The adaptive spin (see the file comment): a park that ends this soon
/// means the peer is busy and a longer spin would have caught it.
inline constexpr std::chrono::microseconds kShortPark{200};
/// The most pauses a ring waiter spins before parking (~80 us here).
inline constexpr int kMaxRingSpin = kSpinLimit * 32;

/// This thread's current spin budget, in pauses. Process-local (inherited,
/// harmlessly, by fork); thread_local so waiters never share a hot word.
inline thread_local int t_ring_spin = kSpinLimit;

inline void adapt_ring_spin(Clock::duration parked) noexcept {
  if (parked < kShortPark) {
    t_ring_spin = t_ring_spin * 2 > kMaxRingSpin ? kMaxRingSpin : t_ring_spin * 2;
  } else {
    t_ring_spin = t_ring_spin / 2 < kSpinLimit ? kSpinLimit : t_ring_spin / 2;
  }
}

struct alignas(kCacheLineSize) RingGate {
  std::atomic<std::uint32_t> seq{0};      // futex word: bumped on every wake
  std::atomic<std::uint32_t> waiters{0};  // how many are parked (or about to park)
};
static_assert(sizeof(RingGate) == kCacheLineSize, "a gate owns exactly one cache line");
static_assert(std::is_standard_layout_v<RingGate> && std::is_trivially_destructible_v<RingGate>);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// ThreadSanitizer does not model std::atomic_thread_fence (GCC refuses it
// under -fsanitize=thread, -Wtsan). In TSan builds both fences become seq_cst
// read-modify-writes of `waiters`, which is equally correct: the two RMWs are
// ordered in the word's modification order, and whichever comes second reads
// (and synchronises with) the first. Normal builds keep the fence: an RMW on
// the gate's line by every publisher would make MPMC producers fight over it.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kRingFenceAsRmw = true;
#else
inline constexpr bool kRingFenceAsRmw = false;
#endif

// The asymmetric barrier (see the file comment). Per process, 2 * pid + 1
// once this process is registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED, 2 *
// pid if registering failed; any other value (0, or a parent's pid after a
// fork): not tried in this process yet.
extern std::atomic<std::int64_t> g_light_publisher;
/// Registers this process (once); false if the kernel lacks or refuses it.
[[nodiscard]] bool register_light_publisher() noexcept;
/// The waiter's half: membarrier(GLOBAL_EXPEDITED) where available, then a
/// seq_cst fence.
void heavy_barrier() noexcept;

/// The publisher's half of the StoreLoad barrier.
inline void light_barrier() noexcept {
  const std::int64_t self = current_pid();
  // relaxed: a process-local cache of this process's own registration.
  const std::int64_t mode = g_light_publisher.load(std::memory_order_relaxed);
  if (mode == 2 * self + 1 || (mode != 2 * self && register_light_publisher())) [[likely]] {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the waiter's membarrier does the rest
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with the waiter's fence
  }
}

/// How many waiters are parked, read after a StoreLoad barrier that orders
/// the caller's publication before the read (see the file comment).
[[nodiscard]] inline std::uint32_t parked_after_publishing(RingGate& gate) noexcept {
  if constexpr (kRingFenceAsRmw) {
    return gate.waiters.fetch_add(0, std::memory_order_seq_cst);
  } else {
    light_barrier();                                      // pairs with park_until's heavy_barrier
    return gate.waiters.load(std::memory_order_relaxed);  // relaxed: ordered by the barrier
  }
}

/// Publisher side: call after the release store that publishes. Wakes up to
/// `count` parked waiters, and makes no system call if none is parked.
inline void wake_parked(RingGate& gate) noexcept {
  // One wake per parking episode: the first publisher to see waiters != 0
  // takes the count to 0 and wakes them all; later publications, until a
  // waiter registers again, see 0 and make no system call. (Decrementing on
  // wake-up instead would let the peer issue a FUTEX_WAKE per item during
  // the ~20 µs the sleeper takes to get going, and throughput collapses.)
  if (parked_after_publishing(gate) != 0 &&
      gate.waiters.exchange(0, std::memory_order_seq_cst) != 0) [[unlikely]] {
    // release: a waiter that reads the new seq (acquire) sees our publication.
    gate.seq.fetch_add(1, std::memory_order_release);
    (void)futex_wake_all(gate.seq);
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
/// How a waiter spins before it parks: kAdaptive (a ring's waiter, see the
/// protocol above) or kShort (kSpinLimit pauses and no adaptation: for a
/// waiter that is woken on purpose, like a pool's driver, and whose spin
/// would only take a core from the workers).
enum class ParkSpin { kAdaptive, kShort };

template <class Ready, class OnIdleSlice>
[[nodiscard]] std::optional<QueueStatus> park_until(RingGate& gate, Ready&& ready,
                                                    std::optional<Deadline> deadline,
                                                    OnIdleSlice&& on_idle_slice,
                                                    ParkSpin spin = ParkSpin::kAdaptive) {
  const bool adaptive = spin == ParkSpin::kAdaptive;
  if (spin_until(ready, Poll::kBackingOff, adaptive ? t_ring_spin : kSpinLimit)) return std::nullopt;
  std::optional<Deadline> parked_since;  // the first futex_wait of this episode
  for (;;) {
    // seq_cst RMW, then (normal builds) the heavy barrier pairing with the
    // publisher's light one: our registration is ordered before the re-check.
    gate.waiters.fetch_add(1, std::memory_order_seq_cst);
    if constexpr (!kRingFenceAsRmw) heavy_barrier();
    // acquire: pairs with wake_parked's release bump of seq.
    // A registration is never withdrawn: only a waker resets the count (to
    // 0, waking everyone). A waiter that leaves without being woken leaves
    // the count high, which costs the next publisher one needless wake; a
    // decrement could instead remove another sleeper's registration.
    const std::uint32_t observed = gate.seq.load(std::memory_order_acquire);
    if (ready()) return std::nullopt;
    const Deadline now = Clock::now();
    if (deadline && now >= *deadline) return QueueStatus::kTimedOut;
    Deadline wake_at = now + kRingWaitSlice;
    if (deadline && *deadline < wake_at) wake_at = *deadline;
    if (!parked_since) parked_since = now;
    const FutexWaitResult result = futex_wait(gate.seq, observed, wake_at);
    if (ready()) {
      if (adaptive) adapt_ring_spin(Clock::now() - *parked_since);
      return std::nullopt;
    }
    if (result == FutexWaitResult::kTimedOut && !(deadline && Clock::now() >= *deadline)) {
      if (std::optional<QueueStatus> verdict = on_idle_slice()) return verdict;
    }
  }
}

}  // namespace mpkit::detail
