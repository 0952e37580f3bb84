// Barrier: arriving, waiting, breaking, resetting. The protocol is in
// barrier.hpp.

#include "mpkit/ipc/barrier.hpp"

#include <string>

#include "mpkit/ipc/error.hpp"

namespace mpkit {

BrokenBarrierError::BrokenBarrierError()
    : std::runtime_error(
          "mpkit::Barrier: broken (a party timed out, or reset() ran while parties waited)") {}

Barrier::Barrier(std::uint32_t parties) : parties_(parties) {
  if (parties == 0) throw_invalid_argument("Barrier: parties must be > 0 (got 0)");
}

void Barrier::arrive_and_wait() {
  if (arrive(std::nullopt) != BarrierResult::kPassed) throw BrokenBarrierError();
}

BarrierResult Barrier::arrive(std::optional<Deadline> deadline) noexcept {
  // A. acquire: pairs with the CAS that began this phase, so the zeroing of
  // arrived_ that preceded it is visible and we count into a fresh phase.
  const std::uint32_t phase = phase_.load(std::memory_order_acquire);
  if ((phase & kBrokenBit) != 0) return BarrierResult::kBroken;

  // acq_rel: release hands this party's writes to the last arriver; acquire
  // lets the last arriver gather every party's writes before its CAS.
  const std::uint32_t index = arrived_.fetch_add(1, std::memory_order_acq_rel);
  if (index + 1 < parties_) return wait_for_phase_end(phase, deadline);

  // The last arriver. relaxed: published by the CAS on phase_ below.
  arrived_.store(0, std::memory_order_relaxed);
  std::uint32_t expected = phase;
  // seq_cst: the release every waiter acquires, and the Dekker pair with
  // sleepers_++. It fails only if a time-out broke the phase meanwhile.
  if (!phase_.compare_exchange_strong(expected, phase + kGenerationOne)) {
    return BarrierResult::kBroken;
  }
  if (sleepers_.load() != 0) futex_wake_all(phase_);  // seq_cst: the other half
  return BarrierResult::kPassed;
}

BarrierResult Barrier::wait_for_phase_end(std::uint32_t phase,
                                          std::optional<Deadline> deadline) noexcept {
  std::uint32_t now = phase;
  const auto moved = [&] {
    now = phase_.load(std::memory_order_acquire);  // acquire: as A
    return now != phase;
  };
  if (detail::spin_until(moved)) return outcome(phase, now);

  sleepers_.fetch_add(1);  // seq_cst: see "Memory ordering" in the header
  BarrierResult result = BarrierResult::kPassed;
  for (;;) {
    const FutexWaitResult waited = futex_wait(phase_, phase, deadline);
    if (moved()) {
      result = outcome(phase, now);
      break;
    }
    // Woken spuriously or interrupted by a signal: sleep again, until the
    // same absolute deadline.
    if (waited != FutexWaitResult::kTimedOut) continue;
    // Our deadline passed. Cases:
    //  (1) the CAS (g, intact) -> (g, broken) succeeds: we broke the phase;
    //      wake everyone so they return kBroken instead of hanging.
    //  (2) it fails: the phase completed (or broke, or was reset) at the last
    //      moment; `expected` holds the new value, judged like any other.
    std::uint32_t expected = phase;
    if (phase_.compare_exchange_strong(expected, phase | kBrokenBit)) {  // seq_cst, as above
      futex_wake_all(phase_);  // case (1)
      result = BarrierResult::kTimedOut;
    } else {
      result = outcome(phase, expected);  // case (2)
    }
    break;
  }
  // relaxed: a waker that still sees us makes one useless wake call.
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
  return result;
}

BarrierResult Barrier::outcome(std::uint32_t start, std::uint32_t now) noexcept {
  // Generations between the phase we arrived in and `now`, mod 2^31 (`start`
  // is intact, so its bit 0 is clear). 1: our phase completed. 0: it broke.
  // More: reset() ran (it skips a generation precisely so we can tell).
  const std::uint32_t generations = (now - start) >> 1;
  return generations == 1 ? BarrierResult::kPassed : BarrierResult::kBroken;
}

void Barrier::reset() noexcept {
  arrived_.store(0, std::memory_order_relaxed);  // relaxed: published by the CAS below
  // relaxed: a first guess; the CAS re-reads.
  std::uint32_t phase = phase_.load(std::memory_order_relaxed);
  // Cases:
  //  (1) the CAS (g, either) -> (g+2, intact) succeeds: done.
  //  (2) it fails (a waiter's time-out broke the phase meanwhile): it left the
  //      fresh value in `phase`; go round.
  // seq_cst: publishes the zeroed arrived_, and pairs with sleepers_++.
  while (!phase_.compare_exchange_weak(phase, (phase & ~kBrokenBit) + 2 * kGenerationOne)) {
    // case (2)
  }
  if (sleepers_.load() != 0) futex_wake_all(phase_);  // case (1); seq_cst: the other half
}

}  // namespace mpkit
