#pragma once

// BoostMessageQueue<T>: boost::interprocess::message_queue carrying one T
// per message, with mpkit's close(): the `boost_interprocess` backend.
//
// Who may call what
//   Any number of threads of any processes that hold the queue (create()
//   before fork(); children inherit the mapping) may push, pop, close and
//   observe, concurrently. (An unrelated process could open the queue by
//   name with Boost; mpkit does not offer that here.)
//
// Protocol
//   - A named Boost message queue: name SegmentName::unique()
//     ("/mpkit.<pid>.<n>", so `mpkit clean` sweeps it if its creator is
//     killed), max_num_msg = capacity, max_msg_size = sizeof(T), every
//     message of priority 0 (Boost keeps equal priorities FIFO). Boost guards
//     it with its own process-shared mutex and two condition variables.
//   - The creating process removes the name in its destructor; a forked
//     child's copy never does (it compares the creator's pid with its own).
//   - Boost's queue has no close: `closed` lives in a small anonymous mapping
//     (release store, acquire loads). Blocking calls wait with
//     timed_send / timed_receive in slices of kWaitSlice (10 ms) and re-check
//     the flag between slices, so close() wakes a blocked caller within one
//     slice (up to 10 ms of added latency, and a sleeping waiter wakes 100
//     times a second). pop reads the flag BEFORE it tries to receive, so
//     kClosed means "empty after every push made before close()".
//   - Deadlines: Boost 1.74's timed_* take a boost::posix_time::ptime in
//     universal time (UTC, compared against CLOCK_REALTIME). Each slice's end
//     is converted as universal_time() + (slice end - steady now), rounded up
//     to a microsecond; the loop then checks the steady_clock deadline
//     itself, so a wall-clock step can stretch or shorten one slice, never
//     the whole wait.
//   - Boost's interprocess_exception becomes std::system_error with Boost's
//     native error (errno) when it has one (EIO otherwise) and what was
//     attempted.
//
// What a SIGKILL of a peer does
//   - Boost 1.74's interprocess_mutex is NOT robust (ARCHITECTURE.md, peer lesson 2): a
//     process killed while inside Boost's send/receive critical section
//     (microseconds) leaves the mutex locked and every other user of the
//     queue hangs in Boost's untimed lock, out of mpkit's reach.
//   - Killed elsewhere: nothing is lost or duplicated; but no dead peer is
//     detected: a producer blocked on a full queue whose consumers are gone
//     waits for its deadline (or forever), like a consumer whose producers
//     are gone. Use the _until forms, or close() from a supervisor.
//   - A creator killed leaves the name in /dev/shm until `mpkit clean`.
//
// Memory ordering: Boost's mutex orders the messages; `closed` is
// release/acquire.
//
// Contract
//   Requires: capacity in [1, 2^31].
//   Guarantees: FIFO per producer as seen by each consumer; exactly-once.
//   Throws: create(): std::invalid_argument naming `capacity` (0, or above
//     2^31); std::system_error(ENOSPC) if the segment Boost would make (every
//     message's slot and index, initialised at once) is larger than /dev/shm
//     has free -- both before anything is created; std::system_error for a
//     failed creation (Boost's native error). Every
//     operation: std::system_error if Boost throws. No dead-peer detection.
//   Thread safety: any thread of any process.
//
// Example
//   auto q = mpkit::BoostMessageQueue<std::uint64_t>::create(64);
//   mpkit::Process child([&] { std::uint64_t v; while (q.pop(v) == mpkit::QueueStatus::kOk) use(v); });
//   for (std::uint64_t i = 0; i < n; ++i) (void)q.push(i);  q.close();
//
// Boost is confined to ipc/src/boost_message_queue.cpp: including this
// header needs no Boost headers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "mpkit/ipc/queue.hpp"
#include "mpkit/ipc/shared_memory.hpp"

namespace mpkit {

namespace detail {

struct MessageQueueControl;

/// The untyped Boost message queue behind BoostMessageQueue<T>.
class MessageQueueChannel {
 public:
  static constexpr std::chrono::milliseconds kWaitSlice{10};

  MessageQueueChannel(std::size_t message_size, std::size_t capacity);
  MessageQueueChannel(MessageQueueChannel&& other) noexcept;
  MessageQueueChannel& operator=(MessageQueueChannel&& other) noexcept;
  MessageQueueChannel(const MessageQueueChannel&) = delete;
  MessageQueueChannel& operator=(const MessageQueueChannel&) = delete;
  /// The creating process removes the name; never throws.
  ~MessageQueueChannel();

  QueueStatus send(const void* message, std::optional<Deadline> deadline, bool try_only);
  QueueStatus receive(void* message, std::optional<Deadline> deadline, bool try_only);
  void close() noexcept;
  [[nodiscard]] bool is_closed() const noexcept;
  [[nodiscard]] std::size_t size_guess() const noexcept;
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] const std::string& name() const noexcept;

 private:
  struct Impl;
  void release() noexcept;

  std::unique_ptr<Impl> impl_;
  SharedMemory memory_;
  MessageQueueControl* control_ = nullptr;
  std::size_t message_size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace detail

template <class T>
class BoostMessageQueue {
  static_assert(std::is_trivially_copyable_v<T>, "items are copied as bytes between processes");

 public:
  using value_type = T;

  /// A new named Boost message queue for `capacity` items.
  [[nodiscard]] static BoostMessageQueue create(std::size_t capacity) { return BoostMessageQueue(capacity); }

  BoostMessageQueue(BoostMessageQueue&&) noexcept = default;
  BoostMessageQueue& operator=(BoostMessageQueue&&) noexcept = default;
  BoostMessageQueue(const BoostMessageQueue&) = delete;
  BoostMessageQueue& operator=(const BoostMessageQueue&) = delete;
  ~BoostMessageQueue() = default;

  [[nodiscard]] QueueStatus try_push(const T& value) { return channel_.send(&value, std::nullopt, true); }
  [[nodiscard]] QueueStatus push(const T& value) { return channel_.send(&value, std::nullopt, false); }
  [[nodiscard]] QueueStatus push_until(const T& value, Deadline deadline) {
    return channel_.send(&value, deadline, false);
  }

  [[nodiscard]] QueueStatus try_pop(T& out) { return channel_.receive(&out, std::nullopt, true); }
  [[nodiscard]] QueueStatus pop(T& out) { return channel_.receive(&out, std::nullopt, false); }
  [[nodiscard]] QueueStatus pop_until(T& out, Deadline deadline) {
    return channel_.receive(&out, deadline, false);
  }

  void close() noexcept { channel_.close(); }
  [[nodiscard]] bool is_closed() const noexcept { return channel_.is_closed(); }
  /// Boost's get_num_msg(); approximate.
  [[nodiscard]] std::size_t size_guess() const noexcept { return channel_.size_guess(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return channel_.capacity(); }
  /// The queue's name in /dev/shm ("/mpkit.<pid>.<n>").
  [[nodiscard]] const std::string& name() const noexcept { return channel_.name(); }

 private:
  explicit BoostMessageQueue(std::size_t capacity) : channel_(sizeof(T), capacity) {}

  detail::MessageQueueChannel channel_;
};

static_assert(Queue<BoostMessageQueue<std::uint64_t>, std::uint64_t>);

}  // namespace mpkit
