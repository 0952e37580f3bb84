#pragma once

// BoostSpscQueue<T, Capacity>: boost::lockfree::spsc_queue with a
// compile-time capacity, placed in an anonymous shared mapping, plus mpkit's
// spin-then-park waiting, a close flag and dead-peer checks: the
// `boost_lockfree` backend, the peer baseline for SpscRing.
//
// Who may call what
//   One producer (push, try_push, push_until) and one consumer (pop,
//   try_pop, pop_until) at a time, each a thread of any process that maps the
//   queue (create() before fork(); children inherit it). close(),
//   is_closed(), size_guess(), capacity(): anyone.
//
// Protocol
//   - The ring is Boost's: with boost::lockfree::capacity<Capacity> the
//     storage is an array inside the object (compile_time_sized_ringbuffer),
//     so the object holds no pointer and means the same at any address in
//     any process (checked below: the object is at least as large as its
//     Capacity + 1 slots). Boost's write_index_ is written only by the
//     producer, read_index_ only by the consumer; push writes the slot, then
//     stores write_index_ with release; pop loads it with acquire, copies
//     the slot out, then stores read_index_ with release (Boost's own
//     protocol; it wastes one slot to tell full from empty, hence the
//     Capacity + 1 slots).
//   - Waiting as in SpscRing (detail/ring_wait.hpp): spin ~2.5 µs, then park
//     on a futex word (not_empty / not_full gates); the publisher pays one
//     fence and one load and makes a FUTEX_WAKE only if the peer is parked.
//   - close(): closed = 1 (release), then both gates wake everyone. A later
//     push returns kClosed; pop drains, then kClosed.
//   - Runtime capacity: create(capacity) accepts exactly Capacity and
//     rejects anything else with std::invalid_argument naming it.
//
// What a SIGKILL of a peer does
//   - An item is published by one store of write_index_: it is pushed
//     entirely or not at all; a pop is undone by nothing (the item goes with
//     a consumer killed after its read_index_ store).
//   - Consumer gone (producer blocked on full): after one idle slice (4 ms)
//     plus a /proc read, push throws std::system_error(EPIPE, "BoostSpscQueue:
//     consumer <pid> is gone ..."); so does a process's first push into a
//     queue whose consumer is gone. Producer gone (consumer blocked on
//     empty): nothing ends, as another process may take the producer role;
//     pop drains and waits until close(). Each side registers its pid on its
//     first push / pop; an unregistered peer is waited for.
//
// Cache-line layout: line 0 magic, version, capacity, closed, pids; line 1
// not_empty gate; line 2 not_full gate; then Boost's queue (its two indices
// BOOST_LOCKFREE_CACHELINE_BYTES apart, then the slots).
//
// Memory ordering: Boost's release/acquire on its indices publish the slots;
// closed is release/acquire so a pop that sees it sees every push before
// close(); the pids are relaxed hints; the gates as in ring_wait.hpp.
//
// Contract
//   Requires: at most one producer and one consumer at a time;
//     Capacity >= 1.
//   Guarantees: FIFO; exactly-once; push/pop block until done or closed;
//     push also until the consumer process is gone.
//   Throws: create(): std::invalid_argument if capacity != Capacity;
//     std::system_error if the mapping fails. push/_until:
//     std::system_error(EPIPE) when the consumer is gone. try_* never throw.
//   Thread safety: as above.
//
// Example
//   auto q = mpkit::BoostSpscQueue<std::uint64_t, 1024>::create(1024);
//   mpkit::Process child([&] { std::uint64_t v; while (q.pop(v) == mpkit::QueueStatus::kOk) use(v); });
//   for (std::uint64_t i = 0; i < n; ++i) (void)q.push(i);  q.close();
//
// Note: this header includes <boost/lockfree/spsc_queue.hpp> (a template of
// T and Capacity): a program that includes it needs Boost's headers.

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/lockfree/spsc_queue.hpp>

#include "mpkit/ipc/detail/ring_wait.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/segment_name.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit {

namespace detail {

/// "mpkitbsq": the first word of a BoostSpscQueue's control block.
inline constexpr std::uint64_t kBoostSpscMagic = 0x6d706b69'74627371;

struct BoostSpscControl {
  static constexpr std::uint32_t kLayoutVersion = 1;

  // line 0: read-mostly
  std::uint64_t magic = kBoostSpscMagic;
  std::uint32_t layout_version = kLayoutVersion;
  std::uint32_t slot_size = 0;
  std::uint64_t capacity = 0;
  std::atomic<std::uint32_t> closed{0};
  std::atomic<std::int32_t> producer_pid{0};  // last process that pushed
  std::atomic<std::int32_t> consumer_pid{0};  // last process that popped

  RingGate not_empty;  // line 1
  RingGate not_full;   // line 2
};
static_assert(std::is_standard_layout_v<BoostSpscControl> && std::is_trivially_destructible_v<BoostSpscControl>);
static_assert(sizeof(BoostSpscControl) == 3 * kCacheLineSize, "a line of fields, then one line per gate");

}  // namespace detail

template <class T, std::size_t Capacity>
class BoostSpscQueue {
  static_assert(std::is_trivially_copyable_v<T>, "items are copied as bytes between processes");
  static_assert(Capacity >= 1, "BoostSpscQueue: Capacity must be >= 1");

  using Ring = boost::lockfree::spsc_queue<T, boost::lockfree::capacity<Capacity>>;
  // What makes Boost's queue usable in shared memory (ARCHITECTURE.md rule 2):
  static_assert(sizeof(Ring) >= (Capacity + 1) * sizeof(T),
                "compile-time capacity: the slots live inside the object, no heap pointer");
  static_assert(!std::is_polymorphic_v<Ring>, "no vtable pointer");
  static_assert(std::atomic<std::size_t>::is_always_lock_free, "Boost's indices must be lock-free to work across processes");
  static_assert(alignof(Ring) <= 4096, "the ring fits the mapping's alignment");

 public:
  using value_type = T;
  static constexpr std::size_t kCapacity = Capacity;

  /// A queue of exactly Capacity items in a fresh anonymous mapping. Throws
  /// std::invalid_argument naming `capacity` unless capacity == Capacity.
  [[nodiscard]] static BoostSpscQueue create(std::size_t capacity) {
    if (capacity != Capacity) {
      throw_invalid_argument("BoostSpscQueue: capacity must equal the compile-time Capacity " +
                             std::to_string(Capacity) + " (got " + std::to_string(capacity) + ")");
    }
    SharedMemory memory = SharedMemory::anonymous(kRingOffset + sizeof(Ring));
    auto* control = new (memory.data()) detail::BoostSpscControl{};
    control->slot_size = sizeof(T);
    control->capacity = Capacity;
    new (memory.data() + kRingOffset) Ring();
    return BoostSpscQueue(std::move(memory));
  }

  BoostSpscQueue(BoostSpscQueue&& other) noexcept
      : memory_(std::move(other.memory_)),
        control_(std::exchange(other.control_, nullptr)),
        ring_(std::exchange(other.ring_, nullptr)) {}
  BoostSpscQueue& operator=(BoostSpscQueue&& other) noexcept {
    memory_ = std::move(other.memory_);
    control_ = std::exchange(other.control_, nullptr);
    ring_ = std::exchange(other.ring_, nullptr);
    return *this;
  }
  BoostSpscQueue(const BoostSpscQueue&) = delete;
  BoostSpscQueue& operator=(const BoostSpscQueue&) = delete;
  // Boost's destructor is never run: it would only pop leftover trivially
  // copyable items, and the ring vanishes with the mapping.
  ~BoostSpscQueue() = default;

  // ---- producer ------------------------------------------------------------

  [[nodiscard]] QueueStatus try_push(const T& value) noexcept {
    auto& c = *control_;
    // relaxed: a flag, no data hangs on it; a push racing close() may succeed.
    if (c.closed.load(std::memory_order_relaxed) != 0) [[unlikely]] return QueueStatus::kClosed;
    register_role(c.producer_pid);
    if (!ring_->push(value)) return QueueStatus::kFull;
    detail::wake_parked(c.not_empty);  // after Boost's release store of write_index_
    return QueueStatus::kOk;
  }

  [[nodiscard]] QueueStatus push(const T& value) { return push_until(value, std::nullopt); }
  [[nodiscard]] QueueStatus push_until(const T& value, Deadline deadline) {
    return push_until(value, std::optional<Deadline>(deadline));
  }
  [[nodiscard]] QueueStatus push_until(const T& value, std::optional<Deadline> deadline) {
    // relaxed: a liveness hint, as in register_role. A process's first push:
    // into a queue whose consumer is gone it would go where nobody reads.
    if (control_->producer_pid.load(std::memory_order_relaxed) != current_pid() && !is_closed()) [[unlikely]] {
      (void)check_consumer_alive();
    }
    for (;;) {
      const QueueStatus status = try_push(value);
      if (status != QueueStatus::kFull) return status;
      const auto verdict = detail::park_until(
          control_->not_full, [&] { return ring_->write_available() > 0 || is_closed(); }, deadline,
          [&] { return check_consumer_alive(); });
      if (verdict) return *verdict;
    }
  }

  // ---- consumer ------------------------------------------------------------

  [[nodiscard]] QueueStatus try_pop(T& out) noexcept {
    auto& c = *control_;
    register_role(c.consumer_pid);
    const bool closed = is_closed();  // before the pop: see drained_and_closed in SpscRing
    if (ring_->pop(out)) {
      detail::wake_parked(c.not_full);  // after Boost's release store of read_index_
      return QueueStatus::kOk;
    }
    return closed ? QueueStatus::kClosed : QueueStatus::kEmpty;
  }

  [[nodiscard]] QueueStatus pop(T& out) { return pop_until(out, std::nullopt); }
  [[nodiscard]] QueueStatus pop_until(T& out, Deadline deadline) {
    return pop_until(out, std::optional<Deadline>(deadline));
  }
  [[nodiscard]] QueueStatus pop_until(T& out, std::optional<Deadline> deadline) {
    for (;;) {
      const QueueStatus status = try_pop(out);
      if (status != QueueStatus::kEmpty) return status;
      const auto verdict = detail::park_until(
          control_->not_empty, [&] { return ring_->read_available() > 0 || is_closed(); }, deadline,
          [] { return std::optional<QueueStatus>(); });  // a gone producer ends nothing
      if (verdict) return *verdict;
    }
  }

  // ---- anyone --------------------------------------------------------------

  void close() noexcept {
    // release: a consumer that sees closed (acquire) sees every earlier push.
    control_->closed.store(1, std::memory_order_release);
    detail::wake_all_parked(control_->not_empty);
    detail::wake_all_parked(control_->not_full);
  }

  [[nodiscard]] bool is_closed() const noexcept {
    return control_->closed.load(std::memory_order_acquire) != 0;  // acquire: pairs with close()
  }

  /// Items in the queue now (Boost's read_available from the consumer's view,
  /// computed here from both indices); approximate.
  [[nodiscard]] std::size_t size_guess() const noexcept { return Capacity - ring_->write_available(); }

  [[nodiscard]] std::size_t capacity() const noexcept { return Capacity; }

 private:
  static constexpr std::size_t kRingOffset =
      (sizeof(detail::BoostSpscControl) + alignof(Ring) - 1) / alignof(Ring) * alignof(Ring);

  explicit BoostSpscQueue(SharedMemory memory) noexcept
      : memory_(std::move(memory)),
        control_(std::launder(reinterpret_cast<detail::BoostSpscControl*>(memory_.data()))),
        ring_(std::launder(reinterpret_cast<Ring*>(memory_.data() + kRingOffset))) {}

  static void register_role(std::atomic<std::int32_t>& role) noexcept {
    const pid_t self = current_pid();
    // relaxed: a liveness hint read only by the peer's slow path.
    if (role.load(std::memory_order_relaxed) != self) [[unlikely]] role.store(self, std::memory_order_relaxed);
  }

  [[nodiscard]] std::optional<QueueStatus> check_consumer_alive() const {
    const pid_t consumer = control_->consumer_pid.load(std::memory_order_relaxed);  // relaxed: a hint
    if (consumer != 0 && consumer != current_pid() && process_is_gone(consumer)) {
      throw_system_error(EPIPE, "BoostSpscQueue: consumer " + std::to_string(consumer) +
                                    " is gone; nobody will make room");
    }
    return std::nullopt;
  }

  SharedMemory memory_;
  detail::BoostSpscControl* control_ = nullptr;
  Ring* ring_ = nullptr;
};

static_assert(Queue<BoostSpscQueue<std::uint64_t, 8>, std::uint64_t>);

}  // namespace mpkit
