#pragma once

// Barrier: `parties` threads of several processes meet, phase after phase,
// like Python's multiprocessing.Barrier (time-outs break it).
//
// Protocol
//   parties_  fixed at construction.
//   arrived_  arrivals in the current phase; arrivers increment it, only the
//             last arriver of a phase and reset() zero it.
//   phase_    the futex word: generation << 1 | broken. Only the last arriver
//             (g -> g+1), a timed-out waiter (sets broken) and reset()
//             (g -> g+2, not broken) change it.
//   sleepers_ waiters asleep, or about to be, on phase_.
//   - arrive: read phase_ (A); broken -> kBroken. Take an index with
//     arrived_++. The last arriver zeroes arrived_, then CASes phase_ from
//     (g, intact) to (g+1, intact) and wakes the sleepers, if any; a failed
//     CAS means the phase was broken: kBroken. Every other party spins
//     ~2.5 µs, then sleeps on phase_ until it moves. It then reads the new
//     phase: generation g+1 -> kPassed (even if g+1 broke since); g and
//     broken -> kBroken; anything else is a reset() -> kBroken.
//   - time-out: CAS phase_ from (g, intact) to (g, broken) and wake everyone:
//     this party gets kTimedOut, every other party of the phase kBroken, so
//     nobody hangs on a party that is dead or late. If the CAS fails because
//     the phase completed at that instant, the party gets kPassed.
//   - reset: zero arrived_, move phase_ to (g+2, intact), wake everyone: the
//     parties still waiting get kBroken (Python's semantics) and the barrier
//     is ready for a new phase.
//   The generation has 31 bits; it wraps after 2^30 resets or 2^31 phases.
//   Layout: 16 bytes, one cache line. An all-zero Barrier is NOT valid (it
//   has no parties): construct it in the shared memory before use.
//
// Memory ordering: the last arriver's CAS on phase_ is seq_cst (a release),
// and every party reads phase_ with acquire, so everything any party wrote
// before arriving is visible to every party after it passes. The last
// arriver's zeroing of arrived_ happens-before that CAS, so a party that saw
// the new phase counts into a fresh arrived_. Dekker pair on sleepers_ as in
// the other types (ipc/README.md, "Futex").
//
// Contract
//   Requires: at most `parties` threads arrive per phase; reset() only when
//             no party is arriving (parties already waiting are fine).
//   Guarantees: kPassed only after all `parties` arrived in this phase;
//             kTimedOut only once the deadline has passed (signals neither
//             shorten nor lengthen it), and then the barrier is broken.
//   Throws: the constructor: std::invalid_argument for parties == 0;
//           arrive_and_wait(): BrokenBarrierError on a broken barrier.
//   Thread safety: any thread of any process, concurrently.
//
// Example
//   auto* phase = new (shared_page) mpkit::Barrier(workers);
//   for (int step = 0; step < steps; ++step) {
//     compute(step); if (phase->arrive_and_wait_for(10s) != mpkit::BarrierResult::kPassed) break; }

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/futex.hpp"

namespace mpkit {

enum class BarrierResult {
  kPassed,    ///< every party arrived: go on to the next phase
  kTimedOut,  ///< this party's deadline passed; the barrier is now broken
  kBroken,    ///< another party timed out, or reset() ran: the phase failed
};

/// Thrown by Barrier::arrive_and_wait on a broken barrier.
class BrokenBarrierError : public std::runtime_error {
 public:
  BrokenBarrierError();
};

class Barrier {
 public:
  /// Throws std::invalid_argument if `parties` is 0.
  explicit Barrier(std::uint32_t parties);
  // It lives at one place in shared memory, where others find it: never
  // copied or moved. Trivially destructible: a process may just unmap it.
  Barrier(const Barrier&) = delete;
  Barrier& operator=(const Barrier&) = delete;
  Barrier(Barrier&&) = delete;
  Barrier& operator=(Barrier&&) = delete;
  ~Barrier() = default;

  /// Arrives and waits for the others, or until `deadline`.
  [[nodiscard]] BarrierResult arrive_and_wait_until(Deadline deadline) noexcept {
    return arrive(deadline);
  }
  template <class Rep, class Period>
  [[nodiscard]] BarrierResult arrive_and_wait_for(
      const std::chrono::duration<Rep, Period>& timeout) noexcept {
    return arrive(detail::deadline_in(timeout));
  }
  /// Arrives and waits without a deadline; throws BrokenBarrierError if the
  /// phase is broken.
  void arrive_and_wait();

  [[nodiscard]] bool is_broken() const noexcept {
    // acquire: as every read of phase_ (see "Memory ordering").
    return (phase_.load(std::memory_order_acquire) & kBrokenBit) != 0;
  }

  /// Back to an intact, empty barrier; waiting parties get kBroken.
  void reset() noexcept;

  [[nodiscard]] std::uint32_t parties() const noexcept { return parties_; }

 private:
  static constexpr std::uint32_t kBrokenBit = 1;
  static constexpr std::uint32_t kGenerationOne = 2;  // generation lives in bits 1..31

  [[nodiscard]] BarrierResult arrive(std::optional<Deadline> deadline) noexcept;
  [[nodiscard]] BarrierResult wait_for_phase_end(std::uint32_t phase,
                                                 std::optional<Deadline> deadline) noexcept;
  [[nodiscard]] static BarrierResult outcome(std::uint32_t start, std::uint32_t now) noexcept;

  std::uint32_t parties_;                   // immutable after construction
  std::atomic<std::uint32_t> arrived_{0};   // arrivals in the current phase
  std::atomic<std::uint32_t> phase_{0};     // the futex word: generation << 1 | broken
  std::atomic<std::uint32_t> sleepers_{0};  // waiters parked, or about to park, on phase_
};

static_assert(std::is_standard_layout_v<Barrier>, "Barrier lives in shared memory: standard layout");
static_assert(std::is_trivially_destructible_v<Barrier>,
              "a process may unmap a Barrier without running anything");
static_assert(sizeof(Barrier) == 16, "Barrier is four 32-bit words, no padding");

}  // namespace mpkit
