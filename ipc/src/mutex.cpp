// Mutex slow paths: spinning, parking, owner-death takeover, poisoning.
// The protocol is in mutex.hpp; the fast paths are inline there.

#include "mpkit/ipc/mutex.hpp"

#include <string>

#include "mpkit/ipc/segment_name.hpp"  // process_is_gone

namespace mpkit {
namespace {

std::uint32_t own_word() noexcept { return static_cast<std::uint32_t>(current_pid()); }

// The last failed attempt of this thread (try_lock, or a bounded acquire
// that timed out): on which mutex, against which owner, since when. Attempts
// that keep failing against the same owner for a whole kOwnerCheckInterval
// check the owner, so polling with try_lock or with short try_lock_for /
// acquire(deadline) calls -- each shorter than the interval -- recovers from
// a dead owner just as a blocked lock() does, at one clock read per failure.
struct FailedTry {
  const Mutex* mutex = nullptr;
  std::uint32_t word = 0;
  Deadline since{};
};
thread_local FailedTry t_failed_try;

// The same owner (the waiters bit, which waiters set, does not change who;
// the value is Mutex::kWaitersBit's, see mutex.hpp).
bool same_owner(std::uint32_t a, std::uint32_t b) noexcept {
  constexpr std::uint32_t kWaitersBit = 0x8000'0000U;
  return (a & ~kWaitersBit) == (b & ~kWaitersBit);
}

}  // namespace

OwnerDiedError::OwnerDiedError(pid_t dead_owner)
    : std::runtime_error("mpkit::Mutex: owner process " + std::to_string(dead_owner) +
                         " died holding the lock; repair the data, then mark_consistent() and "
                         "unlock()"),
      dead_owner_(dead_owner) {}

NotRecoverableError::NotRecoverableError()
    : std::runtime_error(
          "mpkit::Mutex: not recoverable (a lock taken over from a dead owner was unlocked "
          "without mark_consistent())") {}

bool Mutex::take_over_if_owner_gone(std::uint32_t observed, std::uint32_t replacement,
                                    pid_t& dead_owner) noexcept {
  const auto owner = static_cast<pid_t>(observed & kPidMask);
  if (!process_is_gone(owner)) return false;
  // From exactly the observed word: of all the waiters that saw the same dead
  // owner, one wins; the others fail and see the winner as the new owner.
  // acquire: a live previous holder would have released; a dead one did not,
  // and the winner repairs whatever it left half done.
  if (!word_.compare_exchange_strong(observed, replacement, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
    return false;
  }
  // relaxed: we hold the lock now, and only the holder writes consistency_.
  consistency_.store(kInconsistent, std::memory_order_relaxed);
  dead_owner = owner;
  return true;
}

LockStatus Mutex::acquire_slow(std::optional<Deadline> deadline, pid_t& dead_owner) noexcept {
  const std::uint32_t self = own_word();
  std::uint32_t observed = 0;
  // Spin first: a hand-off about to happen costs ~30 ns, a park ~20 µs.
  // Backing off, so the polls do not slow the holder (detail/spin.hpp).
  // relaxed: the CAS that takes the word carries the acquire.
  const auto took_it = [&] {
    observed = word_.load(std::memory_order_relaxed);
    return observed == 0 && word_.compare_exchange_strong(observed, self,
                                                          std::memory_order_acquire,
                                                          std::memory_order_relaxed);
  };
  if (detail::spin_until(took_it, detail::Poll::kBackingOff)) return LockStatus::kAcquired;

  bool slept = false;
  // The held word we are timing for the owner check; a bounded call that
  // timed out on this mutex left its watch here, and we go on with it.
  FailedTry& last = t_failed_try;
  std::uint32_t watched = last.mutex == this ? last.word : 0;
  Deadline watched_since = last.mutex == this ? last.since : Deadline{};
  for (;;) {
    // Cases, on the word just observed (a failed CAS reloads it and the loop
    // starts over):
    //  (1) free: take it; with kWaitersBit if we slept, as other sleepers may
    //      remain and the bit is how our unlock() will know to wake one.
    //  (2) owned by kPoisonedOwner: not recoverable.
    //  (3) held, kWaitersBit clear: set it, so the owner's unlock wakes us.
    //  (4) held as the same word for a whole kOwnerCheckInterval: if the owner
    //      process is gone, take over from exactly that word.
    //  (5) the deadline has passed: time out.
    //  (6) otherwise sleep until woken, the word changes, or the slice ends.
    if (observed == 0) {  // case (1); acquire: pairs with unlock()'s release
      if (word_.compare_exchange_strong(observed, slept ? (self | kWaitersBit) : self,
                                        std::memory_order_acquire, std::memory_order_relaxed)) {
        if (last.mutex == this) last = FailedTry{};
        return LockStatus::kAcquired;
      }
      continue;
    }
    if ((observed & kPidMask) == kPoisonedOwner) {  // case (2)
      // acquire: re-reads the (permanent) poison to pair with the release in
      // unlock_not_consistent(), so a mistaken unlock() by this thread (a
      // guard unwinding after NotRecoverableError) reads kNotRecoverable and
      // changes nothing. A load, not a fence: TSan does not model fences.
      (void)word_.load(std::memory_order_acquire);
      return LockStatus::kNotRecoverable;
    }
    if ((observed & kWaitersBit) == 0) {  // case (3)
      // relaxed: only sets a flag in the word; unlock()'s exchange reads the
      // latest value of the word whatever the order.
      if (!word_.compare_exchange_strong(observed, observed | kWaitersBit,
                                         std::memory_order_relaxed, std::memory_order_relaxed)) {
        continue;
      }
      observed |= kWaitersBit;
    }
    const Deadline now = Clock::now();
    if (watched == 0 || !same_owner(observed, watched)) {
      watched = observed;
      watched_since = now;
    } else if (now - watched_since >= kOwnerCheckInterval) {  // case (4)
      if (take_over_if_owner_gone(observed, self | kWaitersBit, dead_owner)) {
        if (last.mutex == this) last = FailedTry{};
        return LockStatus::kOwnerDied;
      }
      watched_since = now;
    }
    if (deadline && now >= *deadline) {  // case (5): keep the watch for the next call
      last = FailedTry{this, watched, watched_since};
      return LockStatus::kTimedOut;
    }
    // case (6). Every outcome of the wait (woken, value changed, slice or
    // deadline over, signal) is handled by re-reading the word; the deadline
    // is absolute, so a signal neither shortens nor lengthens the wait.
    Deadline wake_at = now + kOwnerCheckInterval;
    if (deadline && *deadline < wake_at) wake_at = *deadline;
    slept = true;
    (void)futex_wait(word_, observed, wake_at);
    observed = word_.load(std::memory_order_relaxed);  // relaxed: as in the spin
  }
}

LockStatus Mutex::try_acquire_slow(pid_t& dead_owner) noexcept {
  // One more attempt on a word that looks free (the fast CAS may have lost a
  // race); a failed CAS leaves the current, non-zero word in `observed`.
  // relaxed: as in acquire_slow.
  std::uint32_t observed = word_.load(std::memory_order_relaxed);
  if (observed == 0 && word_.compare_exchange_strong(observed, own_word(),
                                                     std::memory_order_acquire,
                                                     std::memory_order_relaxed)) {
    return LockStatus::kAcquired;
  }
  if ((observed & kPidMask) == kPoisonedOwner) {
    (void)word_.load(std::memory_order_acquire);  // acquire: as in acquire_slow case (2)
    return LockStatus::kNotRecoverable;
  }

  const Deadline now = Clock::now();
  FailedTry& last = t_failed_try;
  if (last.mutex != this || !same_owner(last.word, observed)) {
    last = FailedTry{this, observed, now};
    return LockStatus::kTimedOut;
  }
  if (now - last.since < kOwnerCheckInterval) return LockStatus::kTimedOut;
  last.since = now;
  // Keep the waiters bit: sleepers still need the wake from our unlock().
  const std::uint32_t replacement = own_word() | (observed & kWaitersBit);
  if (take_over_if_owner_gone(observed, replacement, dead_owner)) {
    last = FailedTry{};
    return LockStatus::kOwnerDied;
  }
  return LockStatus::kTimedOut;
}

namespace {

[[noreturn]] void throw_for(LockStatus status, pid_t dead_owner) {
  if (status == LockStatus::kOwnerDied) throw OwnerDiedError(dead_owner);
  throw NotRecoverableError();
}

}  // namespace

void Mutex::lock_slow() {
  pid_t dead_owner = 0;
  const LockStatus status = acquire_slow(std::nullopt, dead_owner);
  if (status != LockStatus::kAcquired) throw_for(status, dead_owner);
}

bool Mutex::try_lock_slow() {
  pid_t dead_owner = 0;
  const LockStatus status = try_acquire_slow(dead_owner);
  if (status == LockStatus::kAcquired) return true;
  if (status == LockStatus::kTimedOut) return false;
  throw_for(status, dead_owner);
}

bool Mutex::try_lock_until(Deadline deadline) {
  if (try_lock_fast()) return true;
  pid_t dead_owner = 0;
  const LockStatus status = acquire_slow(deadline, dead_owner);
  if (status == LockStatus::kAcquired) return true;
  if (status == LockStatus::kTimedOut) return false;
  throw_for(status, dead_owner);
}

void Mutex::unlock_not_consistent() noexcept {
  // relaxed: only the holder writes consistency_. A poisoned mutex has no
  // holder: unlocking it (a caller's mistake) changes nothing.
  if (consistency_.load(std::memory_order_relaxed) == kNotRecoverable) return;
  // The owner died and nobody repaired the data: declare it broken for good.
  consistency_.store(kNotRecoverable, std::memory_order_relaxed);  // relaxed: published below
  // release: whoever sees kPoisonedOwner also sees kNotRecoverable.
  word_.exchange(kPoisonedOwner, std::memory_order_release);
  futex_wake_all(word_);  // every waiter must learn it will never get the lock
}

}  // namespace mpkit
