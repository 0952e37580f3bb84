#pragma once

// MpmcRing<T>: a bounded multi-producer/multi-consumer queue of trivially
// copyable T in an anonymous shared mapping (Vyukov's bounded MPMC queue,
// with parking and dead-peer detection).
//
// Who may call what
//   Any number of threads of any processes that map the ring (create()
//   before fork(); children inherit it) may push, pop, close and observe,
//   concurrently.
//
// Protocol (Vyukov, "Bounded MPMC queue"; also rigtorp/MPMCQueue)
//   - tail_ (next position to push) and head_ (next to pop) grow without
//     bound; position p lives in slot p & mask. Each slot has a sequence
//     number `seq` saying whose turn it is:
//       seq == p          free for the producer of position p
//       seq == p + 1      holds the item of position p, for its consumer
//       seq == p + cap    freed by the consumer of p, free for position p + cap
//   - push: read tail (relaxed), then the slot's seq (acquire, A) and CAS tail
//     from p to p + 1 to own the slot; write the claim word and the item;
//     publish with seq = p + 1 (release, B). pop mirrors it on head_ with
//     seq == p + 1 (acquire, C) and frees the slot with seq = p + cap
//     (release, D). The CAS on the index decides who owns a position; the
//     slot's seq hands the bytes over (A/D for slot reuse, B/C for the item).
//   - The claim word (one per slot), written right after a successful CAS:
//     low 32 bits the claimer's pid, high 32 bits a tag (lap of p, times 2,
//     plus 0 for a producer or 1 for a consumer). It lets a waiter name the
//     process that holds a position and, if it is gone, say so.
//   - Waiting and waking as in SpscRing (detail/ring_wait.hpp): spin, then
//     park on not_empty_/not_full_; a publisher pays one fence and one load
//     and makes a FUTEX_WAKE only if someone is parked.
//   - close(): closed_ = 1 and every waiter wakes. push returns kClosed; pop
//     drains and returns kClosed once head == tail (a position claimed but not
//     yet published is waited for, so no pushed item is left behind).
//
// What a SIGKILL can strand, and what the survivors do (after one idle wait
// slice of 4 ms, plus a /proc read)
//   - A producer killed between its CAS on tail and its publication leaves a
//     position claimed but never published: every consumer stops there and
//     the ring fills up behind it. A consumer waiting at that position reads
//     the slot's claim word; if its tag is this position's and the pid is
//     gone it throws std::system_error(EOWNERDEAD, "MpmcRing: producer <pid>
//     died holding position <p> ..."). If the claim word was never written
//     (killed between the CAS and the claim store, two instructions) the
//     consumer throws the same error once the position has stayed unpublished
//     for kStrandedAfter (2 s), naming no pid.
//   - A consumer killed between its CAS on head and freeing the slot leaves
//     a slot that producers wait for one lap later: a producer waiting at it
//     throws std::system_error(EOWNERDEAD, "... consumer <pid> ...") the same
//     way.
//   - The ring is then broken; nothing is repaired (the stranded item cannot
//     be told from a half-written one). Survivors should close() and give up.
//   - Every consumer gone: push throws std::system_error(EPIPE), as writing
//     to a pipe nobody reads -- at a process's first push, and when a
//     producer is blocked on a full ring. Processes register in a
//     PidRegistry (detail/ring_registry.hpp) on their first push or pop; an
//     unregistered peer is waited for.
//   - Producers gone end nothing: more may come (staggered producers, each
//     pushing its share and a poison pill, are the usual pattern), so a
//     consumer on an empty ring waits until close(), its deadline, or an
//     item. End of stream is close().
//
// Cache-line layout of the control block (then the slots)
//   line 0   read-mostly: magic, version, capacity, mask, shift, closed_
//   line 1   tail_ (producers)       line 2   head_ (consumers)
//   line 3   not_empty_ gate         line 4   not_full_ gate
//   lines 5-6 producer registry      lines 7-8 consumer registry
//   slots    {seq, claim, item}, packed (stride 16 + sizeof(T), aligned)
//
// Memory ordering: slot seq numbers are stored with release and loaded with
// acquire (A-D); the CASes on head_/tail_ only arbitrate ownership, so they
// and the index loads are relaxed; the claim word is relaxed (a hint for the
// dead-peer check); closed_ is release/acquire; gates as in ring_wait.hpp.
//
// Contract
//   Guarantees: FIFO per producer as seen by each consumer; exactly-once;
//     push/pop block until done, closed, or a dead peer is detected.
//   Throws: create(): std::invalid_argument for capacity 0 or > 2^31 (a
//     capacity is rounded up to a power of two, and to at least 2: Vyukov's
//     sequence numbers need two slots), std::system_error if the mapping
//     fails. push/pop/_until:
//     std::system_error (EOWNERDEAD: a stranded position; EPIPE: every
//     consumer gone, see above). try_* never throw and never check liveness.
//   Thread safety: all members, any thread of any process.
//
// Example
//   auto ring = mpkit::MpmcRing<Job>::create(4096);
//   // in each producer: (void)ring.push(job);   in each consumer:
//   Job job; while (ring.pop(job) == mpkit::QueueStatus::kOk) run(job);

#include <sys/types.h>

#include <atomic>
#include <bit>
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

#include "mpkit/ipc/detail/ring_common.hpp"
#include "mpkit/ipc/detail/ring_registry.hpp"
#include "mpkit/ipc/detail/ring_wait.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/segment_name.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit {

namespace detail {

struct MpmcControl {
  static constexpr std::uint32_t kLayoutVersion = 1;

  // line 0: written once at creation
  std::uint64_t magic = kRingMagic;
  std::uint32_t layout_version = kLayoutVersion;
  std::uint32_t slot_size = 0;
  std::uint64_t capacity = 0;
  std::uint64_t mask = 0;
  std::uint32_t shift = 0;  // log2(capacity): position >> shift is its lap
  std::atomic<std::uint32_t> closed{0};

  alignas(kCacheLineSize) std::atomic<std::uint64_t> tail{0};  // line 1: producers CAS it
  alignas(kCacheLineSize) std::atomic<std::uint64_t> head{0};  // line 2: consumers CAS it
  RingGate not_empty;                                          // line 3
  RingGate not_full;                                           // line 4
  PidRegistry producers;                                       // lines 5-6
  PidRegistry consumers;                                       // lines 7-8
};
static_assert(std::is_standard_layout_v<MpmcControl> && std::is_trivially_destructible_v<MpmcControl>,
              "lives in shared memory: standard layout, no destructor");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "only lock-free atomics work across processes");
static_assert(offsetof(MpmcControl, tail) == kCacheLineSize &&
                  offsetof(MpmcControl, head) == 2 * kCacheLineSize,
              "head and tail live on separate cache lines (no false sharing)");
static_assert(sizeof(MpmcControl) == 9 * kCacheLineSize, "the layout in the comment above");

struct MpmcSlotHeader {
  std::atomic<std::uint64_t> seq;    // whose turn (see the protocol)
  std::atomic<std::uint64_t> claim;  // tag << 32 | pid of the position's current owner
};
static_assert(sizeof(MpmcSlotHeader) == 16);

}  // namespace detail

template <class T>
class MpmcRing {
  static_assert(std::is_trivially_copyable_v<T>, "items are copied as bytes between processes");
  static_assert(alignof(T) <= kCacheLineSize, "slots are at most cache-line aligned");

 public:
  using value_type = T;

  /// A position claimed but unpublished for this long, with no claimer
  /// recorded, is declared stranded (see "What a SIGKILL can strand").
  static constexpr std::chrono::seconds kStrandedAfter{2};

  /// A ring for at least `capacity` items (rounded up to a power of two) in
  /// a fresh anonymous mapping that forked children inherit.
  [[nodiscard]] static MpmcRing create(std::size_t capacity) {
    // At least 2: with one slot, "holds the item of p" (seq p + 1) and "free
    // for p + cap" (seq p + cap) would be the same number.
    const std::size_t slots = detail::ring_capacity("MpmcRing", capacity, 2);
    SharedMemory memory = SharedMemory::anonymous(kSlotsOffset + slots * kStride);
    auto* control = new (memory.data()) detail::MpmcControl{};
    control->slot_size = sizeof(T);
    control->capacity = slots;
    control->mask = slots - 1;
    control->shift = static_cast<std::uint32_t>(std::countr_zero(slots));
    for (std::size_t i = 0; i < slots; ++i) {
      auto* header = new (memory.data() + kSlotsOffset + i * kStride) detail::MpmcSlotHeader{};
      header->seq.store(i, std::memory_order_relaxed);  // relaxed: published by fork/thread start
      header->claim.store(kNoClaim, std::memory_order_relaxed);
    }
    return MpmcRing(std::move(memory));
  }

  MpmcRing(MpmcRing&& other) noexcept
      : memory_(std::move(other.memory_)),
        control_(std::exchange(other.control_, nullptr)),
        slots_(std::exchange(other.slots_, nullptr)) {}
  MpmcRing& operator=(MpmcRing&& other) noexcept {
    memory_ = std::move(other.memory_);
    control_ = std::exchange(other.control_, nullptr);
    slots_ = std::exchange(other.slots_, nullptr);
    return *this;
  }
  MpmcRing(const MpmcRing&) = delete;
  MpmcRing& operator=(const MpmcRing&) = delete;
  ~MpmcRing() = default;

  // ---- producers -----------------------------------------------------------

  [[nodiscard]] QueueStatus try_push(const T& value) noexcept {
    auto& c = *control_;
    // relaxed: a flag, no data hangs on it; a push racing close() may succeed.
    if (c.closed.load(std::memory_order_relaxed) != 0) [[unlikely]] return QueueStatus::kClosed;
    register_in(c.producers, registered_producer_);
    std::uint64_t pos = c.tail.load(std::memory_order_relaxed);  // relaxed: the CAS arbitrates
    detail::MpmcSlotHeader* slot = nullptr;
    for (;;) {
      // Cases, on the slot of position `pos`:
      //  (1) seq == pos: free for pos; CAS tail pos -> pos+1 to own it (on
      //      failure the CAS reloads pos and we look again).
      //  (2) seq < pos: the item of pos - cap is still there: full.
      //  (3) seq > pos: another producer took pos; reload tail.
      slot = header(pos);
      const std::uint64_t seq = slot->seq.load(std::memory_order_acquire);  // A: the slot was freed
      const auto diff = static_cast<std::int64_t>(seq - pos);
      if (diff == 0) {  // case (1); relaxed: ownership only, the bytes ride on seq
        if (c.tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
          break;
        }
      } else if (diff < 0) {  // case (2)
        return QueueStatus::kFull;
      } else {  // case (3); relaxed: as above
        pos = c.tail.load(std::memory_order_relaxed);
      }
    }
    slot->claim.store(claim_word(pos, kProducerRole), std::memory_order_relaxed);  // relaxed: a hint
    std::memcpy(item(slot), &value, sizeof(T));
    slot->seq.store(pos + 1, std::memory_order_release);  // B: publishes the item
    detail::wake_parked(c.not_empty);
    return QueueStatus::kOk;
  }

  /// Blocks while full. kOk or kClosed; throws std::system_error (EOWNERDEAD,
  /// EPIPE) when the consumers it waits for are dead, and EPIPE at this
  /// process's first push if every consumer that ever popped is gone.
  [[nodiscard]] QueueStatus push(const T& value) { return push_until(value, std::nullopt); }

  [[nodiscard]] QueueStatus push_until(const T& value, std::optional<Deadline> deadline) {
    // relaxed: a per-handle memo, as in register_in.
    if (registered_producer_.load(std::memory_order_relaxed) != current_pid()) [[unlikely]] {
      check_consumers_before_first_push();
    }
    const QueueStatus status = try_push(value);
    if (status != QueueStatus::kFull) [[likely]] return status;
    return push_slowly(value, deadline);
  }
  [[nodiscard]] QueueStatus push_until(const T& value, Deadline deadline) {
    return push_until(value, std::optional<Deadline>(deadline));
  }

  // ---- consumers -----------------------------------------------------------

  [[nodiscard]] QueueStatus try_pop(T& out) noexcept {
    auto& c = *control_;
    register_in(c.consumers, registered_consumer_);
    std::uint64_t pos = c.head.load(std::memory_order_relaxed);  // relaxed: the CAS arbitrates
    detail::MpmcSlotHeader* slot = nullptr;
    for (;;) {
      // Cases, on the slot of position `pos`:
      //  (1) seq == pos + 1: the item of pos is published; CAS head pos ->
      //      pos+1 to own it (on failure the CAS reloads pos).
      //  (2) seq < pos + 1: not published yet: empty, or its producer is
      //      still writing (kClosed only once closed and head == tail).
      //  (3) seq > pos + 1: another consumer took pos; reload head.
      slot = header(pos);
      const std::uint64_t seq = slot->seq.load(std::memory_order_acquire);  // C: the item's bytes
      const auto diff = static_cast<std::int64_t>(seq - (pos + 1));
      if (diff == 0) {  // case (1); relaxed: ownership only, the bytes ride on seq
        if (c.head.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed,
                                         std::memory_order_relaxed)) {
          break;
        }
      } else if (diff < 0) {  // case (2)
        return drained_and_closed() ? QueueStatus::kClosed : QueueStatus::kEmpty;
      } else {  // case (3); relaxed: as above
        pos = c.head.load(std::memory_order_relaxed);
      }
    }
    slot->claim.store(claim_word(pos, kConsumerRole), std::memory_order_relaxed);  // relaxed: a hint
    std::memcpy(&out, item(slot), sizeof(T));
    slot->seq.store(pos + c.capacity, std::memory_order_release);  // D: frees the slot
    detail::wake_parked(c.not_full);
    return QueueStatus::kOk;
  }

  /// Blocks while empty. kOk; kClosed once closed and drained (producers
  /// that are gone end nothing: more may come). Throws
  /// std::system_error(EOWNERDEAD) at a position stranded by a dead producer.
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

  void close() noexcept {
    // release: a consumer that sees closed (acquire) sees every earlier push.
    control_->closed.store(1, std::memory_order_release);
    detail::wake_all_parked(control_->not_empty);
    detail::wake_all_parked(control_->not_full);
  }

  [[nodiscard]] bool is_closed() const noexcept {
    return control_->closed.load(std::memory_order_acquire) != 0;  // acquire: see close()
  }

  /// Claimed positions not yet popped; approximate (stale at once, and it
  /// counts items still being written or read).
  [[nodiscard]] std::size_t size_guess() const noexcept {
    // relaxed: a snapshot; head first so that tail >= head holds.
    const std::uint64_t head = control_->head.load(std::memory_order_relaxed);
    const std::uint64_t tail = control_->tail.load(std::memory_order_relaxed);
    return tail >= head ? static_cast<std::size_t>(tail - head) : 0;
  }

  [[nodiscard]] std::size_t capacity() const noexcept {
    return static_cast<std::size_t>(control_->capacity);
  }

 private:
  template <class>
  friend struct MpmcRingTestAccess;  // tests strand a position on purpose

  static constexpr std::size_t kItemAlign = alignof(T) > 8 ? alignof(T) : 8;
  static constexpr std::size_t kItemOffset = detail::align_up(sizeof(detail::MpmcSlotHeader), kItemAlign);
  static constexpr std::size_t kStride = detail::align_up(kItemOffset + sizeof(T), kItemAlign);
  static constexpr std::size_t kSlotsOffset = sizeof(detail::MpmcControl);
  static constexpr std::uint32_t kProducerRole = 0;
  static constexpr std::uint32_t kConsumerRole = 1;
  // No position's tag (pid 0 is never a claimer): a slot never claimed.
  static constexpr std::uint64_t kNoClaim = ~std::uint64_t{0} << 32;

  // Remembers since when the position a waiter waits at has been claimed
  // without a claimer on record.
  struct StrandTimer {
    std::uint64_t position = ~std::uint64_t{0};
    Deadline since{};
    [[nodiscard]] bool expired(std::uint64_t pos) {
      const Deadline now = Clock::now();
      if (pos != position) {
        position = pos;
        since = now;
      }
      return now - since >= kStrandedAfter;
    }
  };

  explicit MpmcRing(SharedMemory memory) noexcept
      : memory_(std::move(memory)),
        control_(std::launder(reinterpret_cast<detail::MpmcControl*>(memory_.data()))),
        slots_(memory_.data() + kSlotsOffset) {}

  [[nodiscard]] detail::MpmcSlotHeader* header(std::uint64_t pos) const noexcept {
    return std::launder(reinterpret_cast<detail::MpmcSlotHeader*>(
        slots_ + static_cast<std::size_t>(pos & control_->mask) * kStride));
  }
  [[nodiscard]] static std::byte* item(detail::MpmcSlotHeader* slot) noexcept {
    return reinterpret_cast<std::byte*>(slot) + kItemOffset;
  }

  [[nodiscard]] std::uint32_t claim_tag(std::uint64_t pos, std::uint32_t role) const noexcept {
    return static_cast<std::uint32_t>(((pos >> control_->shift) << 1) | role);
  }
  [[nodiscard]] std::uint64_t claim_word(std::uint64_t pos, std::uint32_t role) const noexcept {
    return (std::uint64_t{claim_tag(pos, role)} << 32) |
           static_cast<std::uint32_t>(current_pid());
  }

  static void register_in(detail::PidRegistry& registry, std::atomic<pid_t>& registered) noexcept {
    const pid_t self = current_pid();
    // relaxed: a per-handle memo of "this process is in the registry".
    if (registered.load(std::memory_order_relaxed) != self) [[unlikely]] {
      registry.add(self);
      registered.store(self, std::memory_order_relaxed);
    }
  }

  // The waits of push_until / pop_until, out of line so that their fast paths
  // (one try_) stay small enough to inline into the caller's loop.
  [[gnu::noinline]] QueueStatus push_slowly(const T& value, std::optional<Deadline> deadline) {
    StrandTimer timer;
    for (;;) {
      const auto verdict = detail::park_until(
          control_->not_full, [&] { return has_room() || is_closed(); }, deadline,
          [&] { return check_consumers(timer); });
      if (verdict) return *verdict;
      const QueueStatus status = try_push(value);
      if (status != QueueStatus::kFull) return status;
    }
  }
  [[gnu::noinline]] QueueStatus pop_slowly(T& out, std::optional<Deadline> deadline) {
    StrandTimer timer;
    for (;;) {
      const auto verdict = detail::park_until(
          control_->not_empty, [&] { return has_items() || drained_and_closed(); }, deadline,
          [&] { return check_producers(timer); });
      if (verdict) return *verdict;
      const QueueStatus status = try_pop(out);
      if (status != QueueStatus::kEmpty) return status;
    }
  }

  // Waiting conditions.
  [[nodiscard]] bool has_room() const noexcept {
    const std::uint64_t pos = control_->tail.load(std::memory_order_relaxed);  // relaxed: a hint
    return header(pos)->seq.load(std::memory_order_acquire) == pos;
  }
  [[nodiscard]] bool has_items() const noexcept {
    const std::uint64_t pos = control_->head.load(std::memory_order_relaxed);  // relaxed: a hint
    return header(pos)->seq.load(std::memory_order_acquire) == pos + 1;
  }
  [[nodiscard]] bool drained_and_closed() const noexcept {
    if (!is_closed()) return false;
    // acquire: positions claimed before close() are counted.
    const std::uint64_t head = control_->head.load(std::memory_order_acquire);
    return control_->tail.load(std::memory_order_acquire) == head;
  }

  // Throws if the position `pos` is held by a gone claimer of `role`, or has
  // been held with no claimer on record for kStrandedAfter.
  void check_stranded(std::uint64_t pos, std::uint32_t role, const char* who, StrandTimer& timer) const {
    const std::uint64_t claim = header(pos)->claim.load(std::memory_order_relaxed);  // relaxed: a hint
    const auto pid = static_cast<pid_t>(static_cast<std::uint32_t>(claim));
    const std::string where = "MpmcRing: " + std::string(who);
    if (static_cast<std::uint32_t>(claim >> 32) == claim_tag(pos, role)) {
      if (pid > 0 && pid != current_pid() && process_is_gone(pid)) {
        throw_system_error(EOWNERDEAD, where + " " + std::to_string(pid) + " died holding position " +
                                           std::to_string(pos) + "; the ring is broken");
      }
    } else if (timer.expired(pos)) {
      throw_system_error(EOWNERDEAD, where + " holding position " + std::to_string(pos) +
                                         " has not released it for " +
                                         std::to_string(kStrandedAfter.count()) +
                                         " s (killed before recording its pid?); the ring is broken");
    }
  }

  // A consumer slept a whole slice on an empty ring. Producers that are
  // gone are not an end of file: more may come (end of stream is close()).
  [[nodiscard]] std::optional<QueueStatus> check_producers(StrandTimer& timer) const {
    const std::uint64_t head = control_->head.load(std::memory_order_acquire);
    const std::uint64_t tail = control_->tail.load(std::memory_order_acquire);
    if (tail > head) {  // position `head` is claimed by a producer, not yet published
      if (!has_items()) check_stranded(head, kProducerRole, "producer", timer);
    }
    return std::nullopt;
  }

  // A process about to push for the first time: into a ring whose every
  // consumer is gone, that push would go where nobody reads.
  [[gnu::noinline]] void check_consumers_before_first_push() const {
    if (!is_closed() && control_->consumers.all_gone()) {
      throw_system_error(EPIPE, "MpmcRing: every consumer is gone; nobody will read this push");
    }
  }

  // A producer slept a whole slice on a full ring.
  [[nodiscard]] std::optional<QueueStatus> check_consumers(StrandTimer& timer) const {
    const std::uint64_t tail = control_->tail.load(std::memory_order_acquire);
    const std::uint64_t head = control_->head.load(std::memory_order_acquire);
    if (tail - head < control_->capacity) {  // the slot of `tail` is still being read
      if (!has_room() && tail >= control_->capacity) {
        check_stranded(tail - control_->capacity, kConsumerRole, "consumer", timer);
      }
      return std::nullopt;
    }
    if (control_->consumers.all_gone()) {
      throw_system_error(EPIPE, "MpmcRing: every consumer is gone; nobody will make room");
    }
    return std::nullopt;
  }

  SharedMemory memory_;
  detail::MpmcControl* control_ = nullptr;
  std::byte* slots_ = nullptr;
  // Per handle (so per process after a fork): the pid this handle last
  // registered as a producer / consumer. A forked child finds its parent's pid
  // here, differing from its own, and registers itself.
  std::atomic<pid_t> registered_producer_{0};
  std::atomic<pid_t> registered_consumer_{0};
};

static_assert(Queue<MpmcRing<std::uint64_t>, std::uint64_t>);

}  // namespace mpkit
