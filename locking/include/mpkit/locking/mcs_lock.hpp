#pragma once

// McsLock<kSlots>: the Mellor-Crummey & Scott queue lock (1991), with its
// queue nodes in the lock itself, in shared memory, named by index.
//
// Who may call what
//   Up to kSlots threads (of any processes) at once. A participant's slot is
//   its queue node: the first time a thread touches a lock it claims a slot
//   by CAS-ing its claim key (pid << 32 | kernel tid) into claims_[i], first
//   looking for its own key, then for an empty entry, then for an entry
//   whose thread is gone (/proc/<pid>/task/<tid> missing). It keeps the slot
//   while it lives; a per-thread cache remembers (lock, slot), validated on
//   every use by one relaxed load of claims_[slot], so a lock destroyed and
//   re-created at the same address, or a fork (the child's threads have new
//   keys), is never served a stale slot. kSlots live threads at once and the
//   next one gets std::system_error(EAGAIN) from lock()/try_lock*().
//
// Protocol (slot s is named s + 1 in every word, so 0 means "none")
//   tail_             the last queued slot; every locker exchanges it.
//   nodes_[s].next    the slot queued behind s; written once by that
//                     successor, read by s's owner.
//   nodes_[s].locked  1 while s waits; cleared by s's predecessor (the
//                     hand-off), read only by s's owner.
//   - lock: set own next = 0, locked = 1; prev = tail_.exchange(me). prev ==
//     0: the lock is ours. Else link in (nodes_[prev].next = me) and spin on
//     our own locked, on our own cache line: the waiters do not share a line,
//     the point of MCS.
//   - unlock: if next == 0, CAS tail_ from me back to 0 (nobody queued: free);
//     if that fails a successor is linking in: wait for next. Then clear the
//     successor's locked. After that nobody touches our node until we lock
//     again.
//   - try_lock: if tail_ looks 0, reset our node and CAS tail_ from 0 to me
//     (free only). try_lock_until polls it
//     (detail/poll.hpp): a queued node cannot leave the queue, so a bounded
//     waiter never queues. Under contention it can lose to queued waiters
//     until its deadline; it never hangs.
//   Owner death: a holder (or a queued waiter) killed leaves the queue stuck:
//     lock() spins for ever, try_lock_until times out. Not recoverable.
//   Layout: tail_ alone on the first line (every locker writes it), then the
//     claims (read on every lock, written once per thread), then one line
//     per node (written by its owner and its neighbours only). All zero =
//     free, no claims: kValidAsZeroBytes.
//
// Memory ordering: the exchange and the try_lock CAS on tail_ are acq_rel:
// release so that a successor who finds our slot there also sees our node's
// reset (next = 0, locked = 1), acquire to pair with the release CAS of an
// unlock that found nobody queued. The successor's store into our next is
// release and our load of it acquire (its own reset happens-before our
// hand-off store). The hand-off store locked = 0 is release and the waiter's
// load acquire: the critical section travels with it.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/this_process.hpp"
#include "mpkit/locking/detail/poll.hpp"
#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {
namespace detail {

struct alignas(kCacheLineSize) McsNode {
  std::atomic<std::uint32_t> next{0};    // successor's slot + 1; written by the successor
  std::atomic<std::uint32_t> locked{0};  // 1 while waiting; cleared by the predecessor
};
static_assert(sizeof(McsNode) == kCacheLineSize, "one node per cache line: local spinning");
static_assert(std::is_standard_layout_v<McsNode> && std::is_trivially_destructible_v<McsNode>);

/// The calling thread's claim key: pid << 32 | kernel thread id (exact after
/// fork). Never 0.
[[nodiscard]] std::uint64_t mcs_claim_key() noexcept;

/// Finds the slot `key` holds in claims[0, count), or claims an empty one, or
/// one whose thread is gone. Throws std::system_error(EAGAIN) if every entry
/// belongs to a live thread.
[[nodiscard]] std::uint32_t mcs_claim_slot(std::atomic<std::uint64_t>* claims, std::uint32_t count,
                                           std::uint64_t key);

/// The slot `key` holds, or count if none (no claiming; never throws).
[[nodiscard]] std::uint32_t mcs_find_slot(const std::atomic<std::uint64_t>* claims,
                                          std::uint32_t count, std::uint64_t key) noexcept;

/// The last lock this thread used and its slot there (process-local).
struct McsSlotCache {
  const void* lock = nullptr;
  pid_t pid = 0;
  std::uint32_t slot = 0;
  std::uint64_t key = 0;
};
inline thread_local McsSlotCache t_mcs_slot_cache{};

}  // namespace detail

template <std::uint32_t kSlots = 256>
class McsLock : public detail::TimedLock<McsLock<kSlots>> {
  static_assert(kSlots >= 1 && kSlots < 0xFFFF'FFFFU, "slot + 1 must fit the 32-bit words");

 public:
  static constexpr std::string_view kName = "mcs";
  static constexpr bool kSurvivesOwnerDeath = false;
  static constexpr bool kSurvivesWaiterDeath = false;  // its queued node is never handed on
  static constexpr bool kReportsOwnerDeath = false;
  static constexpr bool kExcludesThreads = true;
  static constexpr bool kValidAsZeroBytes = true;
  static constexpr bool kSleeps = false;
  /// Threads that may use the lock at once (a dead thread's slot is reused).
  static constexpr std::uint32_t kMaxParticipants = kSlots;

  McsLock() noexcept = default;
  McsLock(const McsLock&) = delete;
  McsLock& operator=(const McsLock&) = delete;
  McsLock(McsLock&&) = delete;
  McsLock& operator=(McsLock&&) = delete;
  ~McsLock() = default;

  void lock() {
    const std::uint32_t me = my_slot();
    detail::McsNode& node = nodes_[me];
    // relaxed: published by the acq_rel exchange below.
    node.next.store(0, std::memory_order_relaxed);
    node.locked.store(1, std::memory_order_relaxed);
    // acq_rel: see "Memory ordering" in the file comment.
    const std::uint32_t prev = tail_.exchange(me + 1, std::memory_order_acq_rel);
    if (prev == 0) return;
    nodes_[prev - 1].next.store(me + 1, std::memory_order_release);  // release: our reset first
    // acquire: pairs with the predecessor's hand-off store.
    while (node.locked.load(std::memory_order_acquire) != 0) mpkit::detail::cpu_relax();
  }

  [[nodiscard]] bool try_lock() {
    const std::uint32_t me = my_slot();
    // relaxed: a hint. It also keeps a holder that (wrongly) tries again
    // from resetting its own node under a linked successor.
    if (tail_.load(std::memory_order_relaxed) != 0) return false;
    detail::McsNode& node = nodes_[me];
    // relaxed: published by the acq_rel CAS below.
    node.next.store(0, std::memory_order_relaxed);
    node.locked.store(1, std::memory_order_relaxed);
    std::uint32_t expected = 0;
    // acq_rel on success: see "Memory ordering"; relaxed on failure: nothing read.
    return tail_.compare_exchange_strong(expected, me + 1, std::memory_order_acq_rel,
                                         std::memory_order_relaxed);
  }

  [[nodiscard]] bool try_lock_until(Deadline deadline) {
    (void)my_slot();  // claim before polling, so a full table throws at once
    return detail::spin_poll_until([this] { return try_lock(); }, deadline);
  }

  void unlock() noexcept {
    const std::uint32_t me = held_slot();
    if (me >= kSlots) [[unlikely]] return;  // not a holder (a contract violation): nothing of ours
    detail::McsNode& node = nodes_[me];
    std::uint32_t next = node.next.load(std::memory_order_acquire);  // acquire: successor's reset
    if (next == 0) {
      std::uint32_t expected = me + 1;
      // release: publishes the critical section to the next exchange of tail_.
      if (tail_.compare_exchange_strong(expected, 0, std::memory_order_release,
                                        std::memory_order_relaxed)) {
        return;
      }
      // A successor swapped tail_ but has not linked in yet: it is about to.
      while ((next = node.next.load(std::memory_order_acquire)) == 0) mpkit::detail::cpu_relax();
    }
    nodes_[next - 1].locked.store(0, std::memory_order_release);  // release: the hand-off
  }

 private:
  // The calling thread's slot, claiming one on first use.
  std::uint32_t my_slot() {
    detail::McsSlotCache& cache = detail::t_mcs_slot_cache;
    // relaxed: a claim is written once by its own thread (or taken over from
    // a dead one); seeing our key means the slot is ours.
    if (cache.lock == this && cache.pid == current_pid() && cache.slot < kSlots &&
        claims_[cache.slot].load(std::memory_order_relaxed) == cache.key) [[likely]] {
      return cache.slot;
    }
    const std::uint64_t key = detail::mcs_claim_key();
    const std::uint32_t slot = detail::mcs_claim_slot(claims_, kSlots, key);
    cache = detail::McsSlotCache{this, current_pid(), slot, key};
    return slot;
  }

  // The slot of a thread that holds the lock: it has one, so no claim.
  // kSlots if it has none (an unlock by a thread that never locked).
  std::uint32_t held_slot() noexcept {
    detail::McsSlotCache& cache = detail::t_mcs_slot_cache;
    if (cache.lock == this && cache.pid == current_pid() && cache.slot < kSlots) [[likely]] {
      return cache.slot;
    }
    const std::uint64_t key = detail::mcs_claim_key();
    const std::uint32_t slot = detail::mcs_find_slot(claims_, kSlots, key);
    if (slot < kSlots) cache = detail::McsSlotCache{this, current_pid(), slot, key};
    return slot;
  }

  alignas(kCacheLineSize) std::atomic<std::uint32_t> tail_{0};  // last queued slot + 1; every locker
  alignas(kCacheLineSize) std::atomic<std::uint64_t> claims_[kSlots] = {};  // key per slot; its thread
  detail::McsNode nodes_[kSlots];
};

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "claims are 64-bit lock-free atomics");
static_assert(std::is_standard_layout_v<McsLock<>> && std::is_trivially_destructible_v<McsLock<>>,
              "McsLock lives in shared memory: standard layout, nothing to destroy");
static_assert(sizeof(McsLock<4>) == kCacheLineSize * (1 + 1 + 4), "tail line, claims, 4 node lines");

}  // namespace mpkit::locking
