#pragma once

// SpinningBoostSpsc<T, Capacity>: boost::lockfree::spsc_queue in an anonymous
// shared mapping, busy-polled -- the baseline the `lockfree` targets are
// measured against ("a spinning spsc_queue in shared memory"), in
// the transport experiment (`boost-spsc-spin`) and bench/queue_bench.cpp.
//
// A measuring stick, not a transport: it never parks (a waiting side burns
// its CPU), never checks a peer's pid, and close() is a flag polled by the
// waiting loops. Every wait still ends at its deadline, so a dead peer costs
// a timeout, never a hang. Same index protocol as BoostSpscQueue (Boost's
// release store of write_index_ / read_index_, acquire loads on the other
// side); the close flag is release/acquire so a pop that sees it has seen
// every earlier push.
//
// Cache-line layout: line 0 the close flag, then Boost's queue (its two
// indices BOOST_LOCKFREE_CACHELINE_BYTES apart, then the slots).
//
// Memory ordering: Boost's release/acquire pairs publish the slots; closed is
// release/acquire; nothing else is shared.
//
// Contract
//   Requires: one producer and one consumer at a time; capacity == Capacity.
//   Throws: create(): std::invalid_argument naming `capacity` if it is not
//     Capacity; std::system_error if the mapping fails. Nothing else throws.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/lockfree/spsc_queue.hpp>

#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/shared_memory.hpp"

namespace mpkit::detail {

template <class T, std::size_t Capacity>
class SpinningBoostSpsc {
  static_assert(std::is_trivially_copyable_v<T>, "items are copied as bytes between processes");
  using Ring = boost::lockfree::spsc_queue<T, boost::lockfree::capacity<Capacity>>;
  static_assert(sizeof(Ring) >= (Capacity + 1) * sizeof(T),
                "compile-time capacity: the slots live inside the object, no heap pointer");
  static_assert(std::atomic<std::size_t>::is_always_lock_free,
                "Boost's indices must be lock-free to work across processes");

  struct Control {
    alignas(kCacheLineSize) std::atomic<std::uint32_t> closed{0};
  };
  static constexpr std::size_t kRingOffset =
      (sizeof(Control) + alignof(Ring) - 1) / alignof(Ring) * alignof(Ring);
  // The deadline is read once per this many failed polls: a clock read costs
  // ~22 ns here, a poll a few.
  static constexpr int kPollsPerClockRead = 64;

 public:
  using value_type = T;

  [[nodiscard]] static SpinningBoostSpsc create(std::size_t capacity) {
    if (capacity != Capacity) {
      throw_invalid_argument("SpinningBoostSpsc: capacity must equal the compile-time Capacity " +
                             std::to_string(Capacity) + " (got " + std::to_string(capacity) + ")");
    }
    SharedMemory memory = SharedMemory::anonymous(kRingOffset + sizeof(Ring));
    new (memory.data()) Control{};
    new (memory.data() + kRingOffset) Ring();
    return SpinningBoostSpsc(std::move(memory));
  }

  SpinningBoostSpsc(SpinningBoostSpsc&&) noexcept = default;
  SpinningBoostSpsc& operator=(SpinningBoostSpsc&&) noexcept = default;

  [[nodiscard]] QueueStatus try_push(const T& value) noexcept {
    if (is_closed()) [[unlikely]] return QueueStatus::kClosed;
    return ring()->push(value) ? QueueStatus::kOk : QueueStatus::kFull;
  }
  [[nodiscard]] QueueStatus push(const T& value) noexcept { return push_until(value, std::nullopt); }
  [[nodiscard]] QueueStatus push_until(const T& value, std::optional<Deadline> deadline) noexcept {
    return spin(deadline, [&] { return try_push(value); }, QueueStatus::kFull);
  }

  [[nodiscard]] QueueStatus try_pop(T& out) noexcept {
    const bool closed = is_closed();  // before the pop: a push before close() is never missed
    if (ring()->pop(out)) return QueueStatus::kOk;
    return closed ? QueueStatus::kClosed : QueueStatus::kEmpty;
  }
  [[nodiscard]] QueueStatus pop(T& out) noexcept { return pop_until(out, std::nullopt); }
  [[nodiscard]] QueueStatus pop_until(T& out, std::optional<Deadline> deadline) noexcept {
    return spin(deadline, [&] { return try_pop(out); }, QueueStatus::kEmpty);
  }

  void close() noexcept { control()->closed.store(1, std::memory_order_release); }
  [[nodiscard]] bool is_closed() const noexcept {
    return control()->closed.load(std::memory_order_acquire) != 0;  // acquire: pairs with close()
  }
  [[nodiscard]] std::size_t size_guess() const noexcept { return Capacity - ring()->write_available(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return Capacity; }

 private:
  explicit SpinningBoostSpsc(SharedMemory memory) noexcept : memory_(std::move(memory)) {}

  Control* control() const noexcept {
    return std::launder(reinterpret_cast<Control*>(memory_.data()));
  }
  Ring* ring() const noexcept {
    return std::launder(reinterpret_cast<Ring*>(memory_.data() + kRingOffset));
  }

  template <class Try>
  static QueueStatus spin(std::optional<Deadline> deadline, Try attempt, QueueStatus busy) noexcept {
    for (;;) {
      for (int i = 0; i < kPollsPerClockRead; ++i) {
        const QueueStatus status = attempt();
        if (status != busy) return status;
      }
      if (deadline && Clock::now() > *deadline) return QueueStatus::kTimedOut;
      cpu_relax();
    }
  }

  SharedMemory memory_;
};

}  // namespace mpkit::detail
