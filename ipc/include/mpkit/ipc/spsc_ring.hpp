#pragma once

// SpscRing<T>: a bounded single-producer/single-consumer queue of trivially
// copyable T in an anonymous shared mapping: mpkit's fastest transport.
//
// Who may call what
//   One producer (push, try_push, push_until, try_push_many) and one consumer
//   (pop, try_pop, pop_until, try_pop_many) at a time, each a thread of any
//   process that maps the ring (create() before fork(); children inherit it).
//   The roles may move to another thread or process if the hand-over is
//   itself synchronised. close(), is_closed(), size_guess(), capacity(): anyone.
//
// Protocol (Lamport's ring with cached indices, as in rigtorp/SPSCQueue)
//   - tail_ counts pushes and is written only by the producer; head_ counts
//     pops and is written only by the consumer. Both grow without bound
//     (64-bit); the slot of position p is p & mask. Empty: head == tail.
//     Full: tail - head == capacity.
//   - The producer writes the slot, then publishes it with a release store of
//     tail + 1 (A); the consumer's acquire load of tail (B) makes the slot's
//     bytes visible. Symmetrically the consumer copies the slot out, then
//     frees it with a release store of head + 1 (C), read by the producer's
//     acquire load of head (D) before it overwrites the slot.
//   - Cached remote index: the producer keeps its last reading of head in
//     cached_head_ and reloads head (pulling the consumer's line) only when
//     the ring looks full by that stale value; the consumer does the same
//     with cached_tail_. A stale cache only ever underestimates the peer, so
//     it is safe; in steady state each side touches the other's line once per
//     lap instead of once per item.
//   - Batching: try_push_many/try_pop_many move up to n items with one index
//     store and one wake check.
//   - Refill: a push_until that finds the ring full first spins (its
//     adaptive budget, below) until a quarter of the ring, at most 64 slots
//     (at least 1), is free; when the budget runs out it parks for a single
//     free slot as before, so a consumer that frees one slot and stops still
//     lets the push through. Taking each slot the moment it frees makes both
//     sides work on the same lines: every pop's head store then pulls the
//     line back from the polling producer, and the consumer, the slower
//     side, slows down further (figures: ipc/README.md, "A refill and a
//     slip").
//   - Slip: the mirror image for a consumer that keeps catching up. A
//     pop_until that finds the ring empty after popping >= 8 items since a
//     pop_until last found it empty (a stream; a ping-pong's runs are one
//     item long) first lets the producer get ahead: it polls tail every ~0.4
//     us (16 pauses) until a quarter of the ring (at most 1024 items) waits,
//     or the producer added fewer than 8 items since the last poll with at
//     least one waiting (slow or paused: take what is there), or the ring is
//     closed, at most 64 polls (~25 us; a producer that stops after a burst
//     costs the consumer those 25 us of polling before it parks). Popping
//     each item right behind the producer pulls the slot's line and the
//     tail's away from it after every store (the hardware prefetcher pulls
//     the next lines too), which held back a stream that started with an
//     empty ring (figures in the README). Cost: an item of a fast stream
//     (>= 20 M items/s) may wait up to ~25 us. One-item
//     round trips and streams slower than ~50 ns an item are not delayed; a
//     burst of >= 8 requests may add about one poll gap (~0.4 us).
//   - Waiting (detail/ring_wait.hpp): a blocked side spins (an adaptive
//     budget, ~2.5 to ~80 us), then parks on a gate (not_empty_ for the
//     consumer, not_full_ for the producer). After each publication the
//     other side runs a StoreLoad barrier and reads the gate's waiter count;
//     it makes a FUTEX_WAKE only if someone is parked. No system call on the
//     fast path while the peer is awake.
//   - close(): closed_ = 1, then both gates are woken. A later push returns
//     kClosed; pop drains what is left, then returns kClosed.
//
// Peer death (every process registers its pid: producer_pid_ on its first
// push, consumer_pid_ on its first pop; the last registrant wins)
//   - A SIGKILL cannot strand an item: the slot is published by a single
//     store, so an item is either fully pushed or not at all.
//   - Consumer gone, producer blocked in push (ring full): after one idle
//     wait slice the producer finds consumer_pid_ gone (process_is_gone) and
//     throws std::system_error(EPIPE, "SpscRing: consumer <pid> is gone ...")
//     -- like writing to a pipe nobody reads. So does a process's first push
//     (producer_pid_ not yet its own) into a ring whose consumer is gone.
//     try_push just returns kFull / kOk.
//   - Producer gone, consumer blocked in pop (ring empty): nothing ends. The
//     producer role may move to another process (one after the other), so
//     the consumer drains every published item and waits on until close(),
//     its deadline or the next item. End of stream is close().
//   - Detection takes one slice (4 ms) plus a /proc read. A peer that never
//     pushed/popped is not registered and is waited for. A recycled pid of a
//     dead peer looks alive (rare: pids are handed out cyclically).
//
// Cache-line layout of the control block (then the slots, line-aligned)
//   line 0  read-mostly: magic, version, capacity, mask, closed_, pids
//   line 1  producer:    tail_, cached_head_
//   line 2  consumer:    head_, cached_tail_, run_start_
//   line 3  not_empty_   gate where the consumer parks
//   line 4  not_full_    gate where the producer parks
//
// Memory ordering: release stores of tail_/head_ publish a slot's bytes and
// its reuse (A/B, C/D); every other index access is relaxed because only its
// owner writes it; the gates use one seq_cst fence per publication
// (ring_wait.hpp); closed_ is release/acquire so a pop that sees it also sees
// every push made before close().
//
// Contract
//   Requires: at most one producer and one consumer at a time.
//   Guarantees: FIFO; exactly-once; push/pop block until done, closed or (for
//     push) the consumer process is gone; pop ends only with close(). A timed push/pop never returns
//     early; it may return late by its spins: for push the refill and the
//     park spin (each at most the spin budget, ~80 us here), for pop the slip
//     (~25 us) and the park spin.
//   Throws: create(): std::invalid_argument for capacity 0 or > 2^31,
//     std::system_error if the mapping fails. push/push_until:
//     std::system_error(EPIPE) when the consumer is gone. try_* never throw.
//   Thread safety: as above; the SpscRing object itself may be shared by the
//     producer and consumer threads of one process.
//
// Example
//   auto ring = mpkit::SpscRing<std::uint64_t>::create(1024);
//   mpkit::Process child([&] { std::uint64_t v; while (ring.pop(v) == mpkit::QueueStatus::kOk) use(v); });
//   for (std::uint64_t i = 0; i < n; ++i) (void)ring.push(i);
//   ring.close();

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/detail/ring_common.hpp"
#include "mpkit/ipc/detail/ring_wait.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/segment_name.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit {

namespace detail {

struct SpscControl {
  static constexpr std::uint32_t kLayoutVersion = 1;

  // line 0: written once at creation (pids: once per role change)
  std::uint64_t magic = kRingMagic;
  std::uint32_t layout_version = kLayoutVersion;
  std::uint32_t slot_size = 0;
  std::uint64_t capacity = 0;
  std::uint64_t mask = 0;
  std::atomic<std::uint32_t> closed{0};
  std::atomic<std::int32_t> producer_pid{0};  // last process that pushed
  std::atomic<std::int32_t> consumer_pid{0};  // last process that popped

  // line 1: the producer's
  alignas(kCacheLineSize) std::atomic<std::uint64_t> tail{0};
  std::uint64_t cached_head = 0;  // plain: only the producer reads or writes it

  // line 2: the consumer's
  alignas(kCacheLineSize) std::atomic<std::uint64_t> head{0};
  std::uint64_t cached_tail = 0;  // plain: only the consumer reads or writes it
  // The consumer's too: head when pop_until last found the ring empty.
  // Atomic only so that misuse (two consumers) is a wrong heuristic, not UB.
  std::atomic<std::uint64_t> run_start{0};

  RingGate not_empty;  // line 3
  RingGate not_full;   // line 4
};

static_assert(std::is_standard_layout_v<SpscControl>, "lives in shared memory: standard layout");
static_assert(std::is_trivially_destructible_v<SpscControl>, "vanishes with its mapping");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::int32_t>::is_always_lock_free,
              "only lock-free atomics work across processes");
static_assert(offsetof(SpscControl, tail) == 1 * kCacheLineSize &&
                  offsetof(SpscControl, head) == 2 * kCacheLineSize,
              "head and tail live on separate cache lines (no false sharing)");
static_assert(offsetof(SpscControl, not_empty) == 3 * kCacheLineSize &&
                  sizeof(SpscControl) == 5 * kCacheLineSize,
              "each gate owns one line after the index lines");

}  // namespace detail

template <class T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "items are copied as bytes between processes");
  static_assert(alignof(T) <= kCacheLineSize, "slots are at most cache-line aligned");

 public:
  using value_type = T;

  /// A ring for at least `capacity` items (rounded up to a power of two) in
  /// a fresh anonymous mapping that forked children inherit.
  [[nodiscard]] static SpscRing create(std::size_t capacity) {
    const std::size_t slots = detail::ring_capacity("SpscRing", capacity);
    SharedMemory memory = SharedMemory::anonymous(kSlotsOffset + slots * sizeof(T));
    auto* control = new (memory.data()) detail::SpscControl{};
    control->slot_size = sizeof(T);
    control->capacity = slots;
    control->mask = slots - 1;
    return SpscRing(std::move(memory));
  }

  SpscRing(SpscRing&& other) noexcept
      : memory_(std::move(other.memory_)),
        control_(std::exchange(other.control_, nullptr)),
        slots_(std::exchange(other.slots_, nullptr)) {}
  SpscRing& operator=(SpscRing&& other) noexcept {
    memory_ = std::move(other.memory_);
    control_ = std::exchange(other.control_, nullptr);
    slots_ = std::exchange(other.slots_, nullptr);
    return *this;
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;
  ~SpscRing() = default;

  // ---- producer ------------------------------------------------------------

  [[nodiscard]] QueueStatus try_push(const T& value) noexcept {
    return try_push_many(std::span<const T>(&value, 1)) == 1 ? QueueStatus::kOk
           : is_closed()                                     ? QueueStatus::kClosed
                                                             : QueueStatus::kFull;
  }

  /// Pushes the longest prefix of `values` that fits now; returns its length
  /// (0: full or closed). One index store and one wake check for the batch.
  [[nodiscard]] std::size_t try_push_many(std::span<const T> values) noexcept {
    auto& c = *control_;
    // relaxed: a flag, no data hangs on it; a push racing close() may succeed.
    if (c.closed.load(std::memory_order_relaxed) != 0) [[unlikely]] return 0;
    register_role(c.producer_pid);
    const std::uint64_t tail = c.tail.load(std::memory_order_relaxed);  // relaxed: we own tail
    std::uint64_t room = c.capacity - (tail - c.cached_head);
    if (room < values.size()) {
      c.cached_head = c.head.load(std::memory_order_acquire);  // D: the consumer is done with those slots
      room = c.capacity - (tail - c.cached_head);
      if (room == 0) return 0;
    }
    const std::size_t n = std::min<std::size_t>(values.size(), room);
    for (std::size_t i = 0; i < n; ++i) {
      std::memcpy(slot(tail + i), &values[i], sizeof(T));
    }
    c.tail.store(tail + n, std::memory_order_release);  // A: publishes the slots' bytes
    detail::wake_parked(c.not_empty);
    return n;
  }

  /// Blocks while full. kOk or kClosed; throws std::system_error(EPIPE) if the
  /// consumer process is gone (while full, or at this process's first push).
  [[nodiscard]] QueueStatus push(const T& value) { return push_until(value, std::nullopt); }

  [[nodiscard]] QueueStatus push_until(const T& value, std::optional<Deadline> deadline) {
    // relaxed: a liveness hint, as in register_role.
    if (control_->producer_pid.load(std::memory_order_relaxed) != current_pid()) [[unlikely]] {
      check_consumer_before_first_push();
    }
    const QueueStatus status = try_push(value);
    if (status != QueueStatus::kFull) [[likely]] return status;
    return push_slowly(value, deadline);
  }
  [[nodiscard]] QueueStatus push_until(const T& value, Deadline deadline) {
    return push_until(value, std::optional<Deadline>(deadline));
  }

  // ---- consumer ------------------------------------------------------------

  [[nodiscard]] QueueStatus try_pop(T& out) noexcept {
    if (try_pop_many(std::span<T>(&out, 1)) == 1) return QueueStatus::kOk;
    return drained_and_closed() ? QueueStatus::kClosed : QueueStatus::kEmpty;
  }

  /// Pops up to out.size() items available now; returns how many (0: empty,
  /// or closed and drained -- is_closed() tells which).
  [[nodiscard]] std::size_t try_pop_many(std::span<T> out) noexcept {
    auto& c = *control_;
    register_role(c.consumer_pid);
    const std::uint64_t head = c.head.load(std::memory_order_relaxed);  // relaxed: we own head
    std::uint64_t available = c.cached_tail - head;
    if (available < out.size()) {
      c.cached_tail = c.tail.load(std::memory_order_acquire);  // B: the slots' bytes are visible
      available = c.cached_tail - head;
      if (available == 0) return 0;
    }
    const std::size_t n = std::min<std::size_t>(out.size(), available);
    for (std::size_t i = 0; i < n; ++i) {
      std::memcpy(&out[i], slot(head + i), sizeof(T));
    }
    c.head.store(head + n, std::memory_order_release);  // C: the producer may reuse the slots
    detail::wake_parked(c.not_full);
    return n;
  }

  /// Blocks while empty. kOk, or kClosed once closed and drained (a producer
  /// that is gone ends nothing: another may take over).
  [[nodiscard]] QueueStatus pop(T& out) { return pop_until(out, std::nullopt); }

  [[nodiscard]] QueueStatus pop_until(T& out, std::optional<Deadline> deadline) {
    const QueueStatus status = try_pop(out);
    if (status != QueueStatus::kEmpty) [[likely]] return status;
    return pop_slowly(out, deadline);
  }
  [[nodiscard]] QueueStatus pop_until(T& out, Deadline deadline) {
    return pop_until(out, std::optional<Deadline>(deadline));
  }

  // ---- anyone --------------------------------------------------------------

  /// Later pushes fail; pops drain, then report kClosed; wakes every waiter.
  void close() noexcept {
    // release: a consumer that sees closed (acquire) sees every earlier push.
    control_->closed.store(1, std::memory_order_release);
    detail::wake_all_parked(control_->not_empty);
    detail::wake_all_parked(control_->not_full);
  }

  [[nodiscard]] bool is_closed() const noexcept {
    return control_->closed.load(std::memory_order_acquire) != 0;  // acquire: see close()
  }

  /// Items in the ring now; stale by the time it returns (approximate).
  [[nodiscard]] std::size_t size_guess() const noexcept {
    // relaxed: a snapshot; head first so that tail >= head holds.
    const std::uint64_t head = control_->head.load(std::memory_order_relaxed);
    const std::uint64_t tail = control_->tail.load(std::memory_order_relaxed);
    return tail >= head ? static_cast<std::size_t>(tail - head) : 0;
  }

  [[nodiscard]] std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(control_->capacity);
  }

  /// Registered pids (0: none yet); for diagnostics and tests.
  [[nodiscard]] pid_t producer_pid() const noexcept {
    return control_->producer_pid.load(std::memory_order_relaxed);  // relaxed: a snapshot
  }
  [[nodiscard]] pid_t consumer_pid() const noexcept {
    return control_->consumer_pid.load(std::memory_order_relaxed);  // relaxed: a snapshot
  }

 private:
  static constexpr std::size_t kSlotsOffset = sizeof(detail::SpscControl);
  static constexpr std::uint64_t kRefillItems = 64;
  static constexpr std::uint64_t kStreamRun = 8;
  static constexpr std::uint64_t kSlipMaxItems = 1024;
  static constexpr std::uint64_t kSlipMinProgress = 8;
  static constexpr int kSlipPolls = 64;
  static constexpr int kSlipPollGap = 16;  // pauses, ~0.4 us here

  explicit SpscRing(SharedMemory memory) noexcept
      : memory_(std::move(memory)),
        control_(std::launder(reinterpret_cast<detail::SpscControl*>(memory_.data()))),
        slots_(memory_.data() + kSlotsOffset) {}

  [[nodiscard]] std::byte* slot(std::uint64_t position) const noexcept {
    return slots_ + static_cast<std::size_t>(position & control_->mask) * sizeof(T);
  }

  static void register_role(std::atomic<std::int32_t>& role) noexcept {
    const pid_t self = current_pid();
    // relaxed: a liveness hint read only by the peer's slow path.
    if (role.load(std::memory_order_relaxed) != self) [[unlikely]] {
      role.store(self, std::memory_order_relaxed);
    }
  }

  // Waiting conditions (the producer's and the consumer's views).
  [[nodiscard]] bool has_room(std::uint64_t slots = 1) const noexcept {
    // relaxed tail: we own it; acquire head: pairs with C before we retry.
    return control_->capacity - (control_->tail.load(std::memory_order_relaxed) -
                                 control_->head.load(std::memory_order_acquire)) >=
           slots;
  }
  // push_until once the ring was found full: refill spin, then park. Out of
  // line, as pop_slowly.
  [[gnu::noinline]] QueueStatus push_slowly(const T& value, std::optional<Deadline> deadline) {
    // First spin for a refill's worth of room, not one slot (see "Refill").
    (void)detail::spin_until([&] { return has_room(refill_items()) || is_closed(); },
                             detail::Poll::kBackingOff, detail::t_ring_spin);
    for (;;) {
      const auto verdict = detail::park_until(
          control_->not_full, [&] { return has_room() || is_closed(); }, deadline,
          [&] { return check_consumer_alive(); });
      if (verdict) return *verdict;
      const QueueStatus status = try_push(value);
      if (status != QueueStatus::kFull) return status;
    }
  }

  // pop_until once the ring was found empty: slip, spin, park. Out of line so
  // that the fast path stays small enough to inline into the caller's loop.
  [[gnu::noinline]] QueueStatus pop_slowly(T& out, std::optional<Deadline> deadline) {
    if (streaming()) slip_behind();
    for (;;) {
      const auto verdict = detail::park_until(
          control_->not_empty, [&] { return has_items() || is_closed(); }, deadline,
          [] { return std::optional<QueueStatus>(); });
      if (verdict) return *verdict;
      const QueueStatus status = try_pop(out);
      if (status != QueueStatus::kEmpty) return status;
    }
  }

  // Slip (see the file comment). True if pop found the ring empty after a
  // run of at least kStreamRun items since it last did: a stream, not a
  // ping-pong (whose runs are one item long).
  [[nodiscard]] bool streaming() noexcept {
    auto& c = *control_;
    // relaxed: head and run_start are the consumer's own.
    const std::uint64_t head = c.head.load(std::memory_order_relaxed);
    const bool stream = head - c.run_start.load(std::memory_order_relaxed) >= kStreamRun;
    c.run_start.store(head, std::memory_order_relaxed);
    return stream;
  }
  // Lets the producer get ahead before popping on: returns once a quarter of
  // the ring (at most kSlipMaxItems) is waiting, the producer adds fewer than
  // kSlipMinProgress items between two polls (a slow or paused producer:
  // take what is there), the ring is closed, or kSlipPolls polls are spent.
  void slip_behind() const noexcept {
    auto& c = *control_;
    const std::uint64_t head = c.head.load(std::memory_order_relaxed);  // relaxed: we own head
    const std::uint64_t want = std::clamp<std::uint64_t>(c.capacity / 4, 1, kSlipMaxItems);
    std::uint64_t seen = head;
    for (int poll = 0; poll < kSlipPolls; ++poll) {
      for (int i = 0; i < kSlipPollGap; ++i) detail::cpu_relax();
      // acquire: pairs with A, although the pop that follows reloads it anyway.
      const std::uint64_t now = c.tail.load(std::memory_order_acquire);
      if (now - head >= want || is_closed()) return;
      if (now != head && now - seen < kSlipMinProgress) return;
      seen = now;
    }
  }
  [[nodiscard]] std::uint64_t refill_items() const noexcept {
    return std::clamp<std::uint64_t>(control_->capacity / 4, 1, kRefillItems);
  }
  [[nodiscard]] bool has_items() const noexcept {
    // acquire tail: pairs with A; relaxed head: we own it.
    return control_->tail.load(std::memory_order_acquire) !=
           control_->head.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool drained_and_closed() const noexcept {
    // Closed first, then emptiness: every push before close() is visible.
    return is_closed() && !has_items();
  }

  // After an idle slice: the verdicts documented under "Peer death".
  [[nodiscard]] std::optional<QueueStatus> check_consumer_alive() const {
    const pid_t consumer = consumer_pid();
    if (consumer != 0 && consumer != current_pid() && process_is_gone(consumer)) {
      throw_system_error(EPIPE, "SpscRing: consumer " + std::to_string(consumer) +
                                    " is gone; nobody will make room");
    }
    return std::nullopt;
  }
  // A process about to push for the first time: into a ring whose consumer
  // is gone, that push would go where nobody reads.
  [[gnu::noinline]] void check_consumer_before_first_push() const {
    if (!is_closed()) (void)check_consumer_alive();
  }

  SharedMemory memory_;
  detail::SpscControl* control_ = nullptr;
  std::byte* slots_ = nullptr;
};

static_assert(Queue<SpscRing<std::uint64_t>, std::uint64_t>);

}  // namespace mpkit
