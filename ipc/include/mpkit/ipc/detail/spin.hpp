#pragma once

// The waiting toolbox of the futex-based primitives (Mutex, Condition,
// Semaphore, Event, Barrier): a CPU pause, the bounded spin every waiter runs
// before it parks on a futex, and a saturating duration -> Deadline.
//
// Why spin at all: a futex wake across cores costs ~20 µs here (ARCHITECTURE.md machine notes,
// "blocking wake-up across cores"), a cache-line hand-off ~30 ns. A waiter
// that polls for a couple of µs catches every hand-off that is about to
// happen at sub-µs cost; one that would wait longer parks and burns nothing.
//
// Why the spin is bounded by a count rather than a clock: reading the clock
// costs ~22 ns, as much as one pause. kSpinLimit pauses take ~2.5 µs on this
// VM (PAUSE 24.4 ns, ARCHITECTURE.md machine notes) and at most ~5 µs on hosts with a slow PAUSE
// (~140 cycles on Intel since Skylake).

#include <atomic>
#include <chrono>

#include "mpkit/ipc/futex.hpp"

namespace mpkit::detail {

/// Tells the CPU we are in a spin-wait loop: saves power, yields the core to
/// a hyper-threaded sibling, avoids the memory-order mis-speculation exit.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);  // a compiler barrier at least
#endif
}

/// How many pauses a waiter spends before it parks (see the file comment).
inline constexpr int kSpinLimit = 100;

/// How often a spinning waiter looks at the word it waits on.
enum class Poll {
  /// After every pause: the quickest to notice a hand-off. For waiters that
  /// wait for one write (Semaphore, Event, Condition, Barrier).
  kEveryPause,
  /// After 1, 2, 4, 8, then every 16 pauses: for lock waiters, whose every
  /// poll pulls the lock's cache line away from the holder about to write
  /// it. Backing off raises a contended Mutex's throughput but slows a
  /// Semaphore ping-pong (more waits outlive the spin and park), hence two
  /// policies (sync_bench figures: ipc/README.md, "Futex").
  kBackingOff,
};

/// Polls `ready()` until it holds (true) or `limit` pauses (kSpinLimit
/// unless the caller adapts it) are spent (false: the caller parks).
template <class Ready>
[[nodiscard]] bool spin_until(Ready&& ready, Poll poll = Poll::kEveryPause,
                              int limit = kSpinLimit) noexcept(noexcept(ready())) {
  const int max_gap = poll == Poll::kBackingOff ? 16 : 1;
  for (int spent = 0, gap = 1; spent < limit; spent += gap) {
    if (ready()) return true;
    for (int i = 0; i < gap; ++i) cpu_relax();
    if (gap < max_gap) gap *= 2;
  }
  return ready();
}

/// `timeout` from now as an absolute Deadline. Rounds up (a wait never ends
/// early) and saturates: durations beyond ~146 years mean "never".
template <class Rep, class Period>
[[nodiscard]] Deadline deadline_in(const std::chrono::duration<Rep, Period>& timeout) noexcept {
  using Seconds = std::chrono::duration<double>;
  // Compared in floating point, so hours::max() or a double duration cannot
  // overflow on the way to nanoseconds; half the range leaves room for now().
  if (Seconds(timeout) >= Seconds(Clock::duration::max()) / 2) return Deadline::max();
  return deadline_after(std::chrono::ceil<Clock::duration>(timeout));
}

}  // namespace mpkit::detail
