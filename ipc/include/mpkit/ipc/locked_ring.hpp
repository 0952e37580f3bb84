#pragma once

// LockedRing<T>: a bounded multi-producer/multi-consumer queue of trivially
// copyable T in an anonymous shared mapping, guarded by one robust
// mpkit::Mutex with two mpkit::Condition (not_full, not_empty): the `locked`
// backend, Python's mp.Queue minus the pickling, and the baseline the
// lock-free rings are measured against.
//
// Who may call what
//   Any number of threads of any processes that map the ring (create()
//   before fork(); children inherit it) may push, pop, close and observe,
//   concurrently.
//
// Protocol
//   - head (next position to pop) and tail (next to push) grow without bound
//     (64-bit); position p lives in slot p % capacity. Empty: head == tail;
//     full: tail - head == capacity. Both are read and written only while
//     holding `mutex`, except for size_guess(), which reads them unlocked.
//   - push: lock; while full and open, wait on not_full; copy the item into
//     slot[tail % capacity]; store tail + 1 (the commit point); unlock;
//     not_empty.notify_one(). pop mirrors it with head and not_full.
//   - Every critical section writes the slot bytes first and exactly one
//     index last, with one aligned 8-byte store. So a holder killed anywhere
//     inside leaves the indices consistent: before the index store the
//     operation did not happen (a push's half-copied slot lies outside
//     [head, tail) and is overwritten by the next push; a pop's item is still
//     in the ring and goes to another consumer); after it, the operation
//     happened completely (the slot bytes precede the index store in program
//     order, and a killed process's executed stores stay in memory).
//   - Every wait is bounded by kWaitSlice (5 ms), because a holder killed
//     after its commit point but before its notify leaves a waiter asleep
//     with work to do; the slice re-checks the condition, and a waiter that
//     slept a whole slice also checks whether its peers are alive.
//   - close(): under the mutex, closed = 1; then notify_all on both
//     conditions. Later pushes return kClosed; pops drain, then kClosed.
//
// Owner death (Mutex reports kOwnerDied, or Condition's relock throws
// OwnerDiedError; either way the lock is held): repair() checks the
// invariant that the commit-point argument above guarantees (magic intact,
// tail - head <= capacity); if it holds, it counts the death (owner_deaths()),
// calls mark_consistent(), wakes every waiter (the dead holder may have owed
// a notify) and the operation carries on. If it does not hold (only memory
// corruption can do that) the ring is marked broken: every later operation
// throws std::system_error(ENOTRECOVERABLE).
//
// What a SIGKILL does to the others
//   - Killed while holding the lock: the next locker takes it over within
//     ~1 ms plus a /proc read (Mutex's owner check), repairs as above, and
//     carries on. Items: a push killed before its commit point is not in the
//     ring (it never returned kOk); a pop killed after its commit point took
//     its item with it (delivered to the dead process); nothing is ever
//     duplicated, and no other item is lost.
//   - Killed elsewhere: nothing to repair.
//   - Every consumer gone while a producer is blocked on a full ring: after
//     one idle slice push throws std::system_error(EPIPE, "LockedRing: every
//     consumer is gone ..."), as writing a pipe nobody reads; so does a
//     process's first push (push/push_until) into a ring whose every
//     consumer is gone. Producers gone end nothing (more may come): a
//     consumer on an empty ring waits until close(), its deadline or an
//     item. Processes register in a PidRegistry on their first push / pop;
//     an unregistered peer is waited for; more than 31 processes per role
//     switch detection off (then it waits, like a pipe with an unknown
//     reader).
//
// Cache-line layout of the control block (then the slots, line-aligned)
//   line 0    read-mostly: magic, version, slot size, capacity, closed,
//             broken, owner_deaths
//   line 1    mutex, not_empty, not_full (the holder touches all three)
//   line 2    head, tail (written by the holder only)
//   lines 3-4 producer registry     lines 5-6 consumer registry
//
// Memory ordering: the mutex orders everything the critical sections touch
// (acquire CAS / release exchange); head and tail are atomics only so that
// size_guess() may read them unlocked (relaxed: a snapshot), and so that the
// commit store is a single untorn store; closed is stored under the mutex
// and read unlocked by is_closed() with acquire.
//
// Contract
//   Requires: capacity in [1, 2^31].
//   Guarantees: FIFO per producer as seen by each consumer; exactly-once
//     (up to the kill cases above); push/pop block until done, closed, or
//     (push) every consumer is found gone; end of stream is close().
//   Throws: create(): std::invalid_argument naming `capacity`;
//     std::system_error if the mapping fails. push/pop/_until and try_*:
//     std::system_error(ENOTRECOVERABLE) for a broken ring; push/_until:
//     std::system_error(EPIPE) when every consumer is gone.
//   Thread safety: any thread of any process, concurrently; one LockedRing
//     handle may be shared by the threads of a process.
//
// Example
//   auto q = mpkit::LockedRing<std::uint64_t>::create(1024);
//   mpkit::Process child([&] { std::uint64_t v; while (q.pop(v) == mpkit::QueueStatus::kOk) use(v); });
//   for (std::uint64_t i = 0; i < n; ++i) (void)q.push(i);  q.close();

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/condition.hpp"
#include "mpkit/ipc/detail/ring_common.hpp"
#include "mpkit/ipc/detail/ring_registry.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/mutex.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit {

template <class T>
struct LockedRingTestAccess;  // tests only: kills a process inside the critical section

namespace detail {

/// "mpkitlkr": the first word of a LockedRing's control block.
inline constexpr std::uint64_t kLockedRingMagic = 0x6d706b69'746c6b72;

struct LockedRingControl {
  static constexpr std::uint32_t kLayoutVersion = 1;

  // line 0: written once at creation, except the flags and the counter
  std::uint64_t magic = kLockedRingMagic;
  std::uint32_t layout_version = kLayoutVersion;
  std::uint32_t slot_size = 0;
  std::uint64_t capacity = 0;
  std::atomic<std::uint32_t> closed{0};        // written under the mutex
  std::atomic<std::uint32_t> broken{0};        // written under the mutex
  std::atomic<std::uint64_t> owner_deaths{0};  // written under the mutex

  // line 1: the lock and its conditions
  alignas(kCacheLineSize) Mutex mutex;
  Condition not_empty;  // consumers wait here
  Condition not_full;   // producers wait here

  // line 2: the indices (written under the mutex)
  alignas(kCacheLineSize) std::atomic<std::uint64_t> head{0};
  std::atomic<std::uint64_t> tail{0};

  PidRegistry producers;  // lines 3-4
  PidRegistry consumers;  // lines 5-6
};

static_assert(std::is_standard_layout_v<LockedRingControl>, "lives in shared memory: standard layout");
static_assert(std::is_trivially_destructible_v<LockedRingControl>, "vanishes with its mapping");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free,
              "only lock-free atomics work across processes");
static_assert(offsetof(LockedRingControl, mutex) == kCacheLineSize &&
                  offsetof(LockedRingControl, head) == 2 * kCacheLineSize,
              "the lock and the indices each start a cache line");
static_assert(offsetof(LockedRingControl, producers) == 3 * kCacheLineSize &&
                  sizeof(LockedRingControl) == 7 * kCacheLineSize,
              "two registries of two lines each close the block");

}  // namespace detail

template <class T>
class LockedRing {
  static_assert(std::is_trivially_copyable_v<T>, "items are copied as bytes between processes");
  static_assert(alignof(T) <= kCacheLineSize, "slots are at most cache-line aligned");

 public:
  using value_type = T;

  /// How long a waiter sleeps before it re-checks its condition and its peers.
  static constexpr std::chrono::milliseconds kWaitSlice{5};

  /// A ring for exactly `capacity` items (no rounding) in a fresh anonymous
  /// mapping that forked children inherit.
  [[nodiscard]] static LockedRing create(std::size_t capacity) {
    if (capacity == 0 || capacity > detail::kMaxRingCapacity) {
      throw_invalid_argument("LockedRing: capacity must be in [1, " + std::to_string(detail::kMaxRingCapacity) +
                             "] (got " + std::to_string(capacity) + ")");
    }
    SharedMemory memory = SharedMemory::anonymous(kSlotsOffset + capacity * sizeof(T));
    auto* control = new (memory.data()) detail::LockedRingControl{};
    control->slot_size = sizeof(T);
    control->capacity = capacity;
    return LockedRing(std::move(memory));
  }

  LockedRing(LockedRing&& other) noexcept
      : memory_(std::move(other.memory_)),
        control_(std::exchange(other.control_, nullptr)),
        slots_(std::exchange(other.slots_, nullptr)) {}
  LockedRing& operator=(LockedRing&& other) noexcept {
    memory_ = std::move(other.memory_);
    control_ = std::exchange(other.control_, nullptr);
    slots_ = std::exchange(other.slots_, nullptr);
    producer_registered_.store(0, std::memory_order_relaxed);  // relaxed: a memo
    consumer_registered_.store(0, std::memory_order_relaxed);
    return *this;
  }
  LockedRing(const LockedRing&) = delete;
  LockedRing& operator=(const LockedRing&) = delete;
  ~LockedRing() = default;

  // ---- producers -----------------------------------------------------------

  /// kOk, kFull or kClosed; takes the lock (may wait for a holder, never for room).
  [[nodiscard]] QueueStatus try_push(const T& value) { return push_impl(value, std::nullopt, true); }
  /// Blocks while full: kOk or kClosed. Throws std::system_error(EPIPE) once
  /// every consumer is gone (while full, or at this process's first push).
  [[nodiscard]] QueueStatus push(const T& value) { return push_impl(value, std::nullopt, false); }
  [[nodiscard]] QueueStatus push_until(const T& value, Deadline deadline) {
    return push_impl(value, deadline, false);
  }

  // ---- consumers -----------------------------------------------------------

  [[nodiscard]] QueueStatus try_pop(T& out) { return pop_impl(out, std::nullopt, true); }
  /// Blocks while empty: kOk, or kClosed once closed and drained (producers
  /// that are gone end nothing: more may come).
  [[nodiscard]] QueueStatus pop(T& out) { return pop_impl(out, std::nullopt, false); }
  [[nodiscard]] QueueStatus pop_until(T& out, Deadline deadline) { return pop_impl(out, deadline, false); }

  // ---- anyone --------------------------------------------------------------

  /// Later pushes fail; pops drain, then report kClosed; wakes every waiter.
  /// Never throws: a broken ring is closed all the same.
  void close() noexcept {
    auto& c = *control_;
    const LockStatus status = c.mutex.acquire();
    if (status == LockStatus::kOwnerDied) (void)repair_noexcept();
    // relaxed under the lock would do for lockers; release for is_closed().
    c.closed.store(1, std::memory_order_release);
    if (status != LockStatus::kNotRecoverable) c.mutex.unlock();
    c.not_empty.notify_all();
    c.not_full.notify_all();
  }

  [[nodiscard]] bool is_closed() const noexcept {
    return control_->closed.load(std::memory_order_acquire) != 0;  // acquire: pairs with close()
  }

  /// Items in the ring now, read without the lock (approximate).
  [[nodiscard]] std::size_t size_guess() const noexcept {
    // relaxed: a snapshot; head first, so tail >= head unless both moved.
    const std::uint64_t head = control_->head.load(std::memory_order_relaxed);
    const std::uint64_t tail = control_->tail.load(std::memory_order_relaxed);
    return tail >= head ? static_cast<std::size_t>(tail - head) : 0;
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return static_cast<std::size_t>(control_->capacity); }

  /// How many times a locker found the previous holder dead and repaired.
  [[nodiscard]] std::uint64_t owner_deaths() const noexcept {
    return control_->owner_deaths.load(std::memory_order_relaxed);  // relaxed: a counter
  }

 private:
  friend struct LockedRingTestAccess<T>;
  static constexpr std::size_t kSlotsOffset = sizeof(detail::LockedRingControl);

  explicit LockedRing(SharedMemory memory) noexcept
      : memory_(std::move(memory)),
        control_(std::launder(reinterpret_cast<detail::LockedRingControl*>(memory_.data()))),
        slots_(memory_.data() + kSlotsOffset) {}

  [[nodiscard]] std::byte* slot(std::uint64_t position) const noexcept {
    return slots_ + static_cast<std::size_t>(position % control_->capacity) * sizeof(T);
  }

  // Unlocks on every exit path (the mutex is held from construction on).
  class Held {
   public:
    explicit Held(detail::LockedRingControl& c) noexcept : c_(c) {}
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    ~Held() { c_.mutex.unlock(); }

   private:
    detail::LockedRingControl& c_;
  };

  // The repair after a takeover (see "Owner death"). Lock held. Returns false
  // if the ring had to be declared broken.
  bool repair_noexcept() noexcept {
    auto& c = *control_;
    // relaxed: we hold the lock, which orders these with every other holder.
    const std::uint64_t head = c.head.load(std::memory_order_relaxed);
    const std::uint64_t tail = c.tail.load(std::memory_order_relaxed);
    const bool intact = c.magic == detail::kLockedRingMagic && c.slot_size == sizeof(T) && tail >= head &&
                        tail - head <= c.capacity;
    if (!intact) c.broken.store(1, std::memory_order_relaxed);  // relaxed: read under the lock
    c.owner_deaths.fetch_add(1, std::memory_order_relaxed);     // relaxed: a counter
    c.mutex.mark_consistent();
    c.not_empty.notify_all();  // the dead holder may have owed a notify
    c.not_full.notify_all();
    return intact;
  }

  // Takes the lock, repairing after a dead holder. Throws for a broken ring
  // (lock released).
  void lock_or_throw() {
    auto& c = *control_;
    const LockStatus status = c.mutex.acquire();
    if (status == LockStatus::kNotRecoverable) {
      throw_system_error(ENOTRECOVERABLE, "LockedRing: the mutex is not recoverable");
    }
    if (status == LockStatus::kOwnerDied) (void)repair_noexcept();
  }

  // Lock held, inside a Held scope: throwing unlocks through ~Held.
  void check_not_broken_locked() const {
    if (control_->broken.load(std::memory_order_relaxed) != 0) {  // relaxed: under the lock
      throw_system_error(ENOTRECOVERABLE,
                         "LockedRing: indices found inconsistent after a holder died; the ring is broken");
    }
  }

  // One bounded wait on `condition` (lock held before and after). false: the
  // slice passed without a notify.
  bool wait_slice(Condition& condition, Deadline until) {
    auto& c = *control_;
    try {
      return condition.wait_until(c.mutex, until);
    } catch (const OwnerDiedError&) {  // relocked after a dead holder: lock held
      (void)repair_noexcept();
      return true;
    }
  }

  // Waits one slice or until the deadline (lock held). false: the deadline
  // had passed. `idle`: a whole slice passed without a notify.
  bool wait_or_time_out(Condition& condition, std::optional<Deadline> deadline, bool& idle) {
    const Deadline now = Clock::now();
    if (deadline && now >= *deadline) return false;
    Deadline until = now + kWaitSlice;
    if (deadline && *deadline < until) until = *deadline;
    idle = !wait_slice(condition, until) && !(deadline && Clock::now() >= *deadline);
    return true;
  }

  QueueStatus push_impl(const T& value, std::optional<Deadline> deadline, bool try_only) {
    auto& c = *control_;
    // relaxed: a per-handle memo, as in register_in. A process's first
    // blocking push into a ring whose every consumer is gone would go where
    // nobody reads.
    if (!try_only && producer_registered_.load(std::memory_order_relaxed) != current_pid() && !is_closed() &&
        c.consumers.all_gone()) [[unlikely]] {
      throw_system_error(EPIPE, "LockedRing: every consumer is gone; nobody will read this push");
    }
    register_in(c.producers, producer_registered_);
    QueueStatus status = QueueStatus::kOk;
    {
      lock_or_throw();
      Held held(c);
      status = push_locked(value, deadline, try_only);
    }
    if (status == QueueStatus::kOk) c.not_empty.notify_one();  // after the unlock: the waiter can take the lock
    return status;
  }

  QueueStatus push_locked(const T& value, std::optional<Deadline> deadline, bool try_only) {
    auto& c = *control_;
    for (;;) {
      check_not_broken_locked();
      if (c.closed.load(std::memory_order_relaxed) != 0) return QueueStatus::kClosed;  // relaxed: under the lock
      const std::uint64_t tail = c.tail.load(std::memory_order_relaxed);  // relaxed: under the lock
      if (tail - c.head.load(std::memory_order_relaxed) < c.capacity) {
        std::memcpy(slot(tail), &value, sizeof(T));
        c.tail.store(tail + 1, std::memory_order_relaxed);  // the commit point; the unlock publishes it
        return QueueStatus::kOk;
      }
      if (try_only) return QueueStatus::kFull;
      bool idle = false;
      if (!wait_or_time_out(c.not_full, deadline, idle)) return QueueStatus::kTimedOut;
      if (idle && c.consumers.all_gone()) {
        throw_system_error(EPIPE, "LockedRing: every consumer is gone; nobody will make room");
      }
    }
  }

  QueueStatus pop_impl(T& out, std::optional<Deadline> deadline, bool try_only) {
    auto& c = *control_;
    register_in(c.consumers, consumer_registered_);
    QueueStatus status = QueueStatus::kOk;
    {
      lock_or_throw();
      Held held(c);
      status = pop_locked(out, deadline, try_only);
    }
    if (status == QueueStatus::kOk) c.not_full.notify_one();
    return status;
  }

  QueueStatus pop_locked(T& out, std::optional<Deadline> deadline, bool try_only) {
    auto& c = *control_;
    for (;;) {
      check_not_broken_locked();
      const std::uint64_t head = c.head.load(std::memory_order_relaxed);  // relaxed: under the lock
      if (c.tail.load(std::memory_order_relaxed) != head) {
        std::memcpy(&out, slot(head), sizeof(T));
        c.head.store(head + 1, std::memory_order_relaxed);  // the commit point; the unlock publishes it
        return QueueStatus::kOk;
      }
      if (c.closed.load(std::memory_order_relaxed) != 0) return QueueStatus::kClosed;  // relaxed: under the lock
      if (try_only) return QueueStatus::kEmpty;
      bool idle = false;  // producers that are gone end nothing: more may come
      if (!wait_or_time_out(c.not_empty, deadline, idle)) return QueueStatus::kTimedOut;
    }
  }

  static void register_in(detail::PidRegistry& registry, std::atomic<pid_t>& registered) noexcept {
    const pid_t self = current_pid();
    // relaxed: a per-handle memo of "this process is in the registry".
    if (registered.load(std::memory_order_relaxed) != self) [[unlikely]] {
      registry.add(self);
      registered.store(self, std::memory_order_relaxed);
    }
  }

  SharedMemory memory_;
  detail::LockedRingControl* control_ = nullptr;
  std::byte* slots_ = nullptr;
  std::atomic<pid_t> producer_registered_{0};  // this process is in the producer registry
  std::atomic<pid_t> consumer_registered_{0};  // this process is in the consumer registry
};

static_assert(Queue<LockedRing<std::uint64_t>, std::uint64_t>);

}  // namespace mpkit
