#pragma once

// ByteRing: a bounded queue of variable-size byte messages in an anonymous
// shared mapping, between threads and processes -- SpscRing for payloads
// whose size is known only at run time.
//
// Who may call what
//   create(capacity_bytes, producers, consumers) fixes the roles for the
//   ring's life, side by side:
//     ByteRingProducers::kOne   one producer at a time (push, try_push,
//                               push_until): no lock, the lock-free path
//     ByteRingProducers::kMany  any number of producers, serialised by a
//                               robust Mutex of their own (producer_lock)
//   and ByteRingConsumers::kOne / kMany likewise for pop, try_pop, pop_until,
//   next_message_bytes. The sides never share a lock: whatever the roles,
//   one producer and one consumer run concurrently, each alone on its side
//   (by role or by holding its side's lock), with the protocol below.
//   A kOne role may move to another thread or process if the hand-over is
//   itself synchronised. close(), is_closed(), size_guess(),
//   capacity_bytes(), max_message_bytes(): anyone. Processes forked after
//   create() inherit the ring.
//
// Protocol (Lamport's ring over bytes, with cached indices, as SpscRing)
//   - The data area holds capacity_bytes (a power of two, >= 16) bytes.
//     tail counts bytes pushed and is written only by the producer (or the
//     producer-lock holder); head counts bytes popped, written only by the
//     consumer. Both grow without bound (64-bit) and stay multiples of 8;
//     position p is byte p & mask. Empty: head == tail; used: tail - head.
//   - A record is an 8-byte header holding the payload length, then the
//     payload padded to 8 bytes: record_bytes(n) = 8 + align_up(n, 8). A
//     header never straddles the end of the area (8 divides the capacity);
//     a payload that does is copied in two parts (split copy, no skip
//     records). So no byte is ever wasted: a message of
//     max_message_bytes() = capacity_bytes - 8 fits an empty ring, and k
//     messages of n bytes fit exactly when k * record_bytes(n) <= capacity.
//   - push: if record_bytes(n) > capacity - (tail - cached_head), reload head
//     (acquire, D); still short: kFull. Otherwise write header and payload at
//     tail, then publish them with one release store of tail + record (A).
//     The consumer's acquire load of tail (B) makes header and payload
//     visible; it copies the payload out, then frees the bytes with a release
//     store of head + record (C), which D pairs with before the producer
//     overwrites them.
//   - Cached remote index: each side keeps its last reading of the other's
//     index (cached_head, cached_tail) and reloads it, pulling the other
//     side's line, only when the stale value says full / empty. A stale
//     cache only underestimates the peer, so it is safe.
//   - pushes / pops count messages next to tail / head, stored after the
//     index (relaxed): they feed size_guess() and order nothing.
//   - Waiting (detail/ring_wait.hpp, as SpscRing): a blocked side spins
//     ~2.5 µs, then parks on a gate (not_empty for consumers, not_full for
//     producers); after each publication the other side pays one seq_cst
//     fence and one load, and makes a FUTEX_WAKE only if someone is parked.
//     A blocked producer waits for room for *its* record, not for any room.
//   - close(): closed bit set (release), both gates woken. Later pushes
//     return kClosed; pops drain, then return kClosed.
//
// kMany sides: the side's Mutex is held around one attempt (one try_push or
// try_pop), never while parked on a gate: a waiter killed asleep holds
// nothing, and a timed operation hands its deadline to the lock too.
//   - A holder killed inside leaves consistent indices: the single release
//     store of tail (head) is the commit point. Before it the operation did
//     not happen (a half-written record lies beyond tail and is overwritten;
//     a half-copied message is still in the ring for the next consumer);
//     after it, it happened completely.
//   - The next locker gets kOwnerDied (within ~1 ms, Mutex's owner check)
//     and repairs: it walks the records from head to tail, checking that
//     each header's length is <= max_message_bytes() and that the walk lands
//     exactly on tail. Intact (always, short of memory corruption): it
//     counts the death (owner_deaths()), resets its side's cached index,
//     marks the mutex consistent and carries on. Not intact: the broken bit
//     is set and every later operation throws
//     std::system_error(ENOTRECOVERABLE).
//   - pushes / pops are stored after the commit: a holder killed between the
//     two leaves size_guess() off by one for good (it never reports a
//     non-zero count for an empty ring).
//   - No fairness: a producer of a large message may wait while smaller
//     messages of other producers take the room freed.
//
// Peer death (every process registers in its role's PidRegistry on its first
// push / pop; detail/ring_registry.hpp)
//   - A SIGKILL cannot strand a message: a record is published by a single
//     store, so it is either wholly in the ring or not at all.
//   - Every consumer gone, producer blocked (not enough room): after one idle
//     wait slice (4 ms) plus a /proc read, push throws
//     std::system_error(EPIPE, "ByteRing: consumer <pid> is gone ..."), like
//     writing to a pipe nobody reads; so does a process's first push
//     (push/push_until) into a ring whose every consumer is gone. try_push
//     just returns kFull / kOk.
//   - Every producer gone, consumer blocked (ring empty): nothing ends, as
//     more producers may come; the consumer drains every published message
//     and waits until close(), its deadline or the next message.
//   - A process that never pushed / popped is not registered and is waited
//     for; more than 31 processes in a role switch detection off; a recycled
//     pid of a dead peer looks alive.
//
// Cache-line layout of the control block (then the data area, line-aligned)
//   line 0     read-mostly: magic, version, roles, capacity, mask, state
//              (closed / broken bits), owner_deaths
//   line 1     producer_lock (kMany producers only)
//   line 2     producer: tail, cached_head, pushes
//   line 3     consumer_lock (kMany consumers only)
//   line 4     consumer: head, cached_tail, pops
//   line 5     not_empty gate         line 6     not_full gate
//   lines 7-8  producer registry      lines 9-10 consumer registry
//
// Memory ordering: release stores of tail/head publish a record's bytes and
// their reuse (A/B, C/D); every other index access is relaxed because only
// its owner (a kOne side, or the side's lock holder, ordered by the Mutex's
// acquire/release) writes it; gates use one seq_cst fence per publication
// (ring_wait.hpp); the state word is release/acquire, so a pop that sees
// closed also sees every push made before close().
//
// Contract
//   Requires: the roles given to create() are respected (one producer at a
//     time for kOne, likewise consumers).
//   Guarantees: FIFO (per producer, as seen by each consumer); exactly-once;
//     every message arrives whole with its exact length, never truncated;
//     push/pop block until done or closed; push also until every consumer is
//     found gone. End of stream is close().
//   Throws: create(): std::invalid_argument naming `capacity` for 0 or
//     > 2^31 bytes (others are rounded up to a power of two, at least 16);
//     std::system_error if the mapping fails. Every push: std::invalid_argument
//     for a message longer than max_message_bytes() (it could never fit).
//     pop into a caller buffer: std::invalid_argument if the next message is
//     longer than the buffer (it stays in the ring; next_message_bytes()).
//     push/push_until: std::system_error(EPIPE) when every consumer is gone.
//     Any operation: std::system_error(ENOTRECOVERABLE) on a broken ring.
//     pop into a vector: std::bad_alloc.
//   Thread safety: as above; one ByteRing handle may be shared by the
//     threads of a process.
//
// Example
//   auto ring = mpkit::ByteRing::create(1 << 20);
//   mpkit::Process child([&] { std::vector<std::byte> m; while (ring.pop(m) == mpkit::QueueStatus::kOk) use(m); });
//   (void)ring.push(std::as_bytes(std::span(text)));
//   ring.close();

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "mpkit/ipc/detail/ring_common.hpp"
#include "mpkit/ipc/detail/ring_registry.hpp"
#include "mpkit/ipc/detail/ring_wait.hpp"
#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/mutex.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit {

/// How many producers a ByteRing admits at a time.
enum class ByteRingProducers : std::uint32_t { kOne, kMany };
/// How many consumers a ByteRing admits at a time.
enum class ByteRingConsumers : std::uint32_t { kOne, kMany };

struct ByteRingTestAccess;  // tests only: scribbles on the control block

namespace detail {

/// "mpkitbyr": the first word of a ByteRing's control block.
inline constexpr std::uint64_t kByteRingMagic = 0x6d706b69'74627972;

/// Every record starts with this many bytes holding the payload length.
inline constexpr std::size_t kByteRecordHeader = 8;

/// Bytes a message of `length` bytes occupies in the ring.
[[nodiscard]] constexpr std::uint64_t byte_record_bytes(std::size_t length) noexcept {
  return kByteRecordHeader + align_up(length, kByteRecordHeader);
}
static_assert(byte_record_bytes(0) == 8 && byte_record_bytes(1) == 16 && byte_record_bytes(8) == 16 &&
                  byte_record_bytes(9) == 24,
              "a record is a header and the payload padded to 8 bytes");

struct ByteRingControl {
  static constexpr std::uint32_t kLayoutVersion = 1;
  static constexpr std::uint32_t kClosedBit = 1;
  static constexpr std::uint32_t kBrokenBit = 2;

  // line 0: written once at creation, except state and the counter
  std::uint64_t magic = kByteRingMagic;
  std::uint32_t layout_version = kLayoutVersion;
  ByteRingProducers producers_mode = ByteRingProducers::kOne;
  ByteRingConsumers consumers_mode = ByteRingConsumers::kOne;
  std::uint64_t capacity = 0;  // bytes in the data area, a power of two
  std::uint64_t mask = 0;
  std::atomic<std::uint32_t> state{0};         // kClosedBit | kBrokenBit
  std::atomic<std::uint64_t> owner_deaths{0};  // lock holders found dead, either side

  alignas(kCacheLineSize) Mutex producer_lock;  // line 1

  // line 2: the producer's
  alignas(kCacheLineSize) std::atomic<std::uint64_t> tail{0};
  std::uint64_t cached_head = 0;  // plain: only the producer (lock holder) touches it
  std::atomic<std::uint64_t> pushes{0};

  alignas(kCacheLineSize) Mutex consumer_lock;  // line 3

  // line 4: the consumer's
  alignas(kCacheLineSize) std::atomic<std::uint64_t> head{0};
  std::uint64_t cached_tail = 0;  // plain: only the consumer (lock holder) touches it
  std::atomic<std::uint64_t> pops{0};

  RingGate not_empty;      // line 5
  RingGate not_full;       // line 6
  PidRegistry producers;   // lines 7-8
  PidRegistry consumers;   // lines 9-10
};

static_assert(std::is_standard_layout_v<ByteRingControl>, "lives in shared memory: standard layout");
static_assert(std::is_trivially_destructible_v<ByteRingControl>, "vanishes with its mapping");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && std::atomic<std::uint32_t>::is_always_lock_free,
              "only lock-free atomics work across processes");
static_assert(offsetof(ByteRingControl, producer_lock) == 1 * kCacheLineSize &&
                  offsetof(ByteRingControl, tail) == 2 * kCacheLineSize &&
                  offsetof(ByteRingControl, consumer_lock) == 3 * kCacheLineSize &&
                  offsetof(ByteRingControl, head) == 4 * kCacheLineSize,
              "each lock and each side's indices own a cache line: head and tail never share one");
static_assert(offsetof(ByteRingControl, not_empty) == 5 * kCacheLineSize &&
                  offsetof(ByteRingControl, producers) == 7 * kCacheLineSize &&
                  sizeof(ByteRingControl) == 11 * kCacheLineSize,
              "the layout in the comment above");

}  // namespace detail

class ByteRing {
 public:
  /// The smallest data area (room for one 8-byte message).
  static constexpr std::size_t kMinCapacityBytes = 16;

  /// A ring with a data area of at least `capacity_bytes` (rounded up to a
  /// power of two, at least kMinCapacityBytes) in a fresh anonymous mapping
  /// that forked children inherit. Throws std::invalid_argument naming
  /// `capacity` for 0 or more than 2^31 bytes.
  [[nodiscard]] static ByteRing create(std::size_t capacity_bytes,
                                       ByteRingProducers producers = ByteRingProducers::kOne,
                                       ByteRingConsumers consumers = ByteRingConsumers::kOne);

  ByteRing(ByteRing&& other) noexcept;
  ByteRing& operator=(ByteRing&& other) noexcept;
  ByteRing(const ByteRing&) = delete;
  ByteRing& operator=(const ByteRing&) = delete;
  ~ByteRing() = default;

  // ---- producers -------------------------------------------------------------

  /// kOk, kFull (not enough room now) or kClosed; never waits for room (a
  /// kMany side may wait for the lock holder, briefly).
  [[nodiscard]] QueueStatus try_push(std::span<const std::byte> message) {
    check_message_size(message.size());
    if (control_->producers_mode == ByteRingProducers::kOne) [[likely]] return try_push_owned(message);
    return try_push_locked(message, std::nullopt);
  }

  /// Blocks until there is room: kOk or kClosed. Throws std::system_error(EPIPE)
  /// once every consumer is gone (while full, or at this process's first push).
  [[nodiscard]] QueueStatus push(std::span<const std::byte> message) {
    return push_until(message, std::optional<Deadline>());
  }
  [[nodiscard]] QueueStatus push_until(std::span<const std::byte> message, Deadline deadline) {
    return push_until(message, std::optional<Deadline>(deadline));
  }
  /// push_until for a relative timeout (saturating: a huge one waits forever).
  template <class Rep, class Period>
  [[nodiscard]] QueueStatus push_for(std::span<const std::byte> message,
                                     const std::chrono::duration<Rep, Period>& timeout) {
    return push_until(message, detail::deadline_in(timeout));
  }
  [[nodiscard]] QueueStatus push_until(std::span<const std::byte> message, std::optional<Deadline> deadline) {
    check_message_size(message.size());
    // relaxed: a per-handle memo, as in register_in.
    if (producer_registered_.load(std::memory_order_relaxed) != current_pid()) [[unlikely]] {
      check_consumers_before_first_push();
    }
    const std::uint64_t need = detail::byte_record_bytes(message.size());
    for (;;) {
      const QueueStatus status = control_->producers_mode == ByteRingProducers::kOne
                                     ? try_push_owned(message)
                                     : try_push_locked(message, deadline);
      if (status != QueueStatus::kFull) return status;
      const auto verdict = detail::park_until(
          control_->not_full, [&] { return has_room(need) || is_closed(); }, deadline,
          [&] { return check_consumers_alive(); });
      if (verdict) return *verdict;
    }
  }

  // ---- consumers -------------------------------------------------------------

  /// Pops the next message into `out` (resized to its length): kOk, kEmpty,
  /// or kClosed once closed and drained.
  [[nodiscard]] QueueStatus try_pop(std::vector<std::byte>& out) {
    return try_pop_any(VectorSink{&out}, std::nullopt);
  }
  /// Blocks while empty: kOk, or kClosed once closed and drained (producers
  /// that are gone end nothing: more may come).
  [[nodiscard]] QueueStatus pop(std::vector<std::byte>& out) {
    return pop_until(out, std::optional<Deadline>());
  }
  [[nodiscard]] QueueStatus pop_until(std::vector<std::byte>& out, Deadline deadline) {
    return pop_until(out, std::optional<Deadline>(deadline));
  }
  [[nodiscard]] QueueStatus pop_until(std::vector<std::byte>& out, std::optional<Deadline> deadline) {
    return pop_until_any(VectorSink{&out}, deadline);
  }
  template <class Rep, class Period>
  [[nodiscard]] QueueStatus pop_for(std::vector<std::byte>& out, const std::chrono::duration<Rep, Period>& timeout) {
    return pop_until(out, detail::deadline_in(timeout));
  }

  /// The same into a caller's buffer, without allocating: on kOk, `size` is
  /// the message's length and buffer[0, size) holds it. A message longer
  /// than `buffer` is not taken: std::invalid_argument naming `buffer` (it
  /// stays first in the ring; size the buffer with next_message_bytes(), or
  /// make it max_message_bytes() long).
  [[nodiscard]] QueueStatus try_pop(std::span<std::byte> buffer, std::size_t& size) {
    return try_pop_any(SpanSink{buffer, &size}, std::nullopt);
  }
  [[nodiscard]] QueueStatus pop(std::span<std::byte> buffer, std::size_t& size) {
    return pop_until_any(SpanSink{buffer, &size}, std::nullopt);
  }
  [[nodiscard]] QueueStatus pop_until(std::span<std::byte> buffer, std::size_t& size, Deadline deadline) {
    return pop_until_any(SpanSink{buffer, &size}, deadline);
  }
  template <class Rep, class Period>
  [[nodiscard]] QueueStatus pop_for(std::span<std::byte> buffer, std::size_t& size,
                                    const std::chrono::duration<Rep, Period>& timeout) {
    return pop_until(buffer, size, detail::deadline_in(timeout));
  }

  /// The length of the message a pop would return now, or nullopt if the
  /// ring is empty. A consumer's call (it takes the consumer lock on a kMany
  /// side, and another consumer may pop that message before this one does).
  [[nodiscard]] std::optional<std::size_t> next_message_bytes();

  // ---- anyone ----------------------------------------------------------------

  /// Later pushes fail; pops drain, then report kClosed; wakes every waiter.
  void close() noexcept;

  [[nodiscard]] bool is_closed() const noexcept {
    // acquire: pairs with close(), so a drained pop sees every earlier push.
    return (control_->state.load(std::memory_order_acquire) & detail::ByteRingControl::kClosedBit) != 0;
  }

  /// Messages in the ring now; stale by the time it returns (approximate).
  [[nodiscard]] std::size_t size_guess() const noexcept;

  /// Bytes in the ring now (headers and padding included; approximate).
  [[nodiscard]] std::size_t bytes_guess() const noexcept;

  /// The size of the data area: records (header + padded payload) fit in it
  /// without any waste.
  [[nodiscard]] std::size_t capacity_bytes() const noexcept {
    return static_cast<std::size_t>(capacity_);
  }
  /// The longest message a push accepts: capacity_bytes() - 8.
  [[nodiscard]] std::size_t max_message_bytes() const noexcept {
    return static_cast<std::size_t>(capacity_) - detail::kByteRecordHeader;
  }

  [[nodiscard]] ByteRingProducers producers() const noexcept { return control_->producers_mode; }
  [[nodiscard]] ByteRingConsumers consumers() const noexcept { return control_->consumers_mode; }

  /// How many times a locker found the previous holder dead and repaired.
  [[nodiscard]] std::uint64_t owner_deaths() const noexcept {
    return control_->owner_deaths.load(std::memory_order_relaxed);  // relaxed: a counter
  }

 private:
  friend struct ByteRingTestAccess;
  static constexpr std::size_t kDataOffset = sizeof(detail::ByteRingControl);
  static_assert(kDataOffset % kCacheLineSize == 0, "the data area starts a cache line");

  // Where a popped message goes: a vector (resized) or a caller's buffer.
  struct VectorSink {
    std::vector<std::byte>* out;
    std::byte* reserve(std::size_t length) const {
      out->resize(length);
      return out->data();
    }
  };
  struct SpanSink {
    std::span<std::byte> buffer;
    std::size_t* size;
    std::byte* reserve(std::size_t length) const {
      if (length > buffer.size()) reject_buffer(length, buffer.size());
      *size = length;
      return buffer.data();
    }
  };

  explicit ByteRing(SharedMemory memory) noexcept;

  [[noreturn]] static void reject_buffer(std::size_t length, std::size_t buffer_size);
  [[noreturn]] void reject_message(std::size_t length) const;
  [[noreturn]] static void throw_broken();

  void check_message_size(std::size_t length) const {
    if (length > max_message_bytes()) [[unlikely]] reject_message(length);
  }

  // ---- the record area -------------------------------------------------------

  void write_record(std::uint64_t position, std::span<const std::byte> message) noexcept {
    const std::uint64_t length = message.size();
    const std::size_t at = static_cast<std::size_t>(position & mask_);
    std::memcpy(data_ + at, &length, sizeof length);
    copy_in(at + detail::kByteRecordHeader, message.data(), message.size());
  }
  [[nodiscard]] std::uint64_t record_length(std::uint64_t position) const noexcept {
    std::uint64_t length = 0;
    std::memcpy(&length, data_ + static_cast<std::size_t>(position & mask_), sizeof length);
    return length;
  }
  // `at` may equal the capacity (a header in the last 8 bytes): it wraps to 0.
  void copy_in(std::size_t at, const std::byte* from, std::size_t n) noexcept {
    at &= static_cast<std::size_t>(mask_);
    const std::size_t first = std::min(n, static_cast<std::size_t>(capacity_) - at);
    copy_bytes(data_ + at, from, first);
    if (first < n) [[unlikely]] copy_bytes(data_, from + first, n - first);  // the payload wraps around
  }
  void copy_out(std::size_t at, std::byte* to, std::size_t n) const noexcept {
    at &= static_cast<std::size_t>(mask_);
    const std::size_t first = std::min(n, static_cast<std::size_t>(capacity_) - at);
    copy_bytes(to, data_ + at, first);
    if (first < n) [[unlikely]] copy_bytes(to + first, data_, n - first);
  }

  // memcpy, without the library call for up to 16 bytes: two overlapping
  // loads and stores, as memcpy does inside (a small push+pop is dominated
  // by the call otherwise; figures in ipc/README.md). Never touches a byte
  // outside [from, from + n) or [to, to + n), and
  // never passes memcpy a null pointer (an empty span's data()).
  static void copy_bytes(std::byte* to, const std::byte* from, std::size_t n) noexcept {
    if (n <= 16) [[likely]] {
      if (n >= 8) {
        std::uint64_t a = 0;
        std::uint64_t b = 0;
        std::memcpy(&a, from, 8);
        std::memcpy(&b, from + n - 8, 8);
        std::memcpy(to, &a, 8);
        std::memcpy(to + n - 8, &b, 8);
      } else if (n >= 4) {
        std::uint32_t a = 0;
        std::uint32_t b = 0;
        std::memcpy(&a, from, 4);
        std::memcpy(&b, from + n - 4, 4);
        std::memcpy(to, &a, 4);
        std::memcpy(to + n - 4, &b, 4);
      } else if (n > 0) {
        to[0] = from[0];
        to[n / 2] = from[n / 2];
        to[n - 1] = from[n - 1];
      }
      return;
    }
    std::memcpy(to, from, n);
  }

  // ---- producer side ---------------------------------------------------------

  // One attempt by the producer: the only one (kOne) or the lock holder.
  [[nodiscard]] QueueStatus try_push_owned(std::span<const std::byte> message) {
    auto& c = *control_;
    // relaxed: a flag; a push racing close() may succeed. The broken bit is
    // set under a lock by a repair and read here as a hint, then re-read.
    if (c.state.load(std::memory_order_relaxed) != 0) [[unlikely]] {
      if (broken()) throw_broken();
      return QueueStatus::kClosed;
    }
    register_in(c.producers, producer_registered_);
    const std::uint64_t need = detail::byte_record_bytes(message.size());
    const std::uint64_t tail = c.tail.load(std::memory_order_relaxed);  // relaxed: we own tail
    if (capacity_ - (tail - c.cached_head) < need) {
      c.cached_head = c.head.load(std::memory_order_acquire);  // D: the consumer is done with those bytes
      if (capacity_ - (tail - c.cached_head) < need) return QueueStatus::kFull;
    }
    write_record(tail, message);
    c.tail.store(tail + need, std::memory_order_release);  // A: publishes header and payload
    // relaxed: a counter for size_guess(); we own it.
    c.pushes.store(c.pushes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    detail::wake_parked(c.not_empty);
    return QueueStatus::kOk;
  }

  [[nodiscard]] QueueStatus try_push_locked(std::span<const std::byte> message, std::optional<Deadline> deadline) {
    SideHold hold(*this, control_->producer_lock, deadline);
    if (!hold.held()) return QueueStatus::kTimedOut;
    return try_push_owned(message);
  }

  // ---- consumer side ---------------------------------------------------------

  // One attempt by the consumer: the only one (kOne) or the lock holder.
  template <class Sink>
  [[nodiscard]] QueueStatus try_pop_owned(const Sink& sink) {
    auto& c = *control_;
    register_in(c.consumers, consumer_registered_);
    const std::uint64_t head = c.head.load(std::memory_order_relaxed);  // relaxed: we own head
    if (c.cached_tail == head) {
      c.cached_tail = c.tail.load(std::memory_order_acquire);  // B: the records' bytes are visible
      if (c.cached_tail == head) {
        if (!is_closed()) return QueueStatus::kEmpty;
        // Closed (acquire): every push made before close() is visible now.
        c.cached_tail = c.tail.load(std::memory_order_acquire);
        if (c.cached_tail == head) return QueueStatus::kClosed;
      }
    }
    if (broken()) [[unlikely]] throw_broken();
    const std::uint64_t length = record_length(head);
    std::byte* to = sink.reserve(static_cast<std::size_t>(length));  // may throw: nothing taken yet
    copy_out(static_cast<std::size_t>(head & mask_) + detail::kByteRecordHeader, to,
             static_cast<std::size_t>(length));
    c.head.store(head + detail::byte_record_bytes(static_cast<std::size_t>(length)),
                 std::memory_order_release);  // C: the producer may reuse the bytes
    c.pops.store(c.pops.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // relaxed: ours
    detail::wake_parked(c.not_full);
    return QueueStatus::kOk;
  }

  template <class Sink>
  [[nodiscard]] QueueStatus try_pop_any(const Sink& sink, std::optional<Deadline> deadline) {
    if (control_->consumers_mode == ByteRingConsumers::kOne) [[likely]] return try_pop_owned(sink);
    SideHold hold(*this, control_->consumer_lock, deadline);
    if (!hold.held()) return QueueStatus::kTimedOut;
    return try_pop_owned(sink);
  }

  template <class Sink>
  [[nodiscard]] QueueStatus pop_until_any(const Sink& sink, std::optional<Deadline> deadline) {
    for (;;) {
      const QueueStatus status = try_pop_any(sink, deadline);
      if (status != QueueStatus::kEmpty) return status;
      const auto verdict = detail::park_until(
          control_->not_empty, [&] { return has_items() || is_closed(); }, deadline,
          [] { return std::optional<QueueStatus>(); });  // a gone producer ends nothing
      if (verdict) return *verdict;
    }
  }

  // Holds a kMany side's lock for one attempt (repairing after a dead
  // holder; see lock_side), and releases it on every exit path.
  class SideHold {
   public:
    SideHold(ByteRing& ring, Mutex& lock, std::optional<Deadline> deadline)
        : lock_(lock), held_(ring.lock_side(lock, deadline)) {}
    SideHold(const SideHold&) = delete;
    SideHold& operator=(const SideHold&) = delete;
    ~SideHold() {
      if (held_) lock_.unlock();
    }
    [[nodiscard]] bool held() const noexcept { return held_; }

   private:
    Mutex& lock_;
    bool held_;
  };

  // Takes a side's lock; false if `deadline` passed first. Repairs after a
  // dead holder; throws std::system_error(ENOTRECOVERABLE) if it cannot.
  [[nodiscard]] bool lock_side(Mutex& lock, std::optional<Deadline> deadline);
  void repair_locked(Mutex& lock) noexcept;

  // ---- shared helpers ----------------------------------------------------------

  [[nodiscard]] bool broken() const noexcept {
    // acquire: pairs with the repair's release, for a reader on the other side.
    return (control_->state.load(std::memory_order_acquire) & detail::ByteRingControl::kBrokenBit) != 0;
  }
  [[nodiscard]] bool has_items() const noexcept {
    // acquire both: on a kMany side the other index moves too; head first so
    // that a stale head errs towards "items" (the caller retries).
    const std::uint64_t head = control_->head.load(std::memory_order_acquire);
    return control_->tail.load(std::memory_order_acquire) != head;
  }
  [[nodiscard]] bool has_room(std::uint64_t need) const noexcept {
    // head first: tail - head then never underflows, and a stale head errs
    // towards "no room" (a later pop wakes us).
    const std::uint64_t head = control_->head.load(std::memory_order_acquire);
    const std::uint64_t tail = control_->tail.load(std::memory_order_acquire);
    return capacity_ - (tail - head) >= need;
  }

  // After an idle slice: the verdicts documented under "Peer death".
  [[nodiscard]] std::optional<QueueStatus> check_consumers_alive() const;
  void check_consumers_before_first_push() const;

  static void register_in(detail::PidRegistry& registry, std::atomic<pid_t>& registered) noexcept {
    const pid_t self = current_pid();
    // relaxed: a per-handle memo of "this process is in the registry".
    if (registered.load(std::memory_order_relaxed) != self) [[unlikely]] {
      registry.add(self);
      registered.store(self, std::memory_order_relaxed);
    }
  }

  SharedMemory memory_;
  detail::ByteRingControl* control_ = nullptr;
  std::byte* data_ = nullptr;
  // The geometry, copied from the control block at construction: constant,
  // and kept here so the hot paths need not reload it after every memcpy.
  std::uint64_t capacity_ = 0;
  std::uint64_t mask_ = 0;
  std::atomic<pid_t> producer_registered_{0};  // this process is in the producer registry
  std::atomic<pid_t> consumer_registered_{0};  // this process is in the consumer registry
};

}  // namespace mpkit
