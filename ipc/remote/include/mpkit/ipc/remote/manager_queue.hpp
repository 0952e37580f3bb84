#pragma once

// ManagerByteQueue, ManagerQueue<T>: a bounded queue held by a ManagerServer
// (manager.hpp) -- the `manager` transport backend, Python's
// `manager.Queue(maxsize)`. Every operation is a round trip over a Unix
// socket to the server process; ManagerQueue<T> carries trivially copyable
// T as sizeof(T)-byte messages, ManagerByteQueue messages of any size up to
// the limit chosen at creation.
//
// Who may call what
//   Any number of threads of the owner, of every process it forks after
//   create(), and of any process that attach()es by socket path and name
//   may push, pop, close and observe, concurrently: many producers, many
//   consumers. Each process talks over its own pooled connections
//   (detail/manager_client.hpp): threads do not wait for each other's
//   round trips, and a forked child never uses its parent's socket.
//
// Protocol
//   - try_push / try_pop: one request marked "never wait".
//   - push_until / pop_until: the request carries the deadline (the host's
//     CLOCK_MONOTONIC, which every process shares). The server HOLDS a
//     request that cannot complete and answers it when it can, when the
//     deadline passes (kTimedOut: never before it), or when the queue
//     closes (kClosed). The client waits for that reply until the deadline
//     plus `timeout`; longer means a stuck server: std::system_error.
//   - push / pop without deadline: held requests of `timeout` each, sent
//     again until they complete, so even a wait without end notices a
//     stuck server within 2 x timeout. Between two rounds the request is
//     not queued on the server (a newcomer may overtake it; nothing is lost:
//     the server moves a message only in the reply that delivers it).
//   - close(): the server marks the queue closed and answers every held
//     request kClosed; later pushes get kClosed, pops drain what is left,
//     then get kClosed.
//   - FIFO: the server applies requests one at a time; a push meeting a
//     held pop hands the message to the oldest held pop, a pop freeing a
//     slot admits the oldest held push.
//
// What a SIGKILL does
//   - of a client: the server sees the hang-up and drops that connection
//     with its held request; others carry on. A request in flight may or may
//     not have been applied (a pop the server answered is lost with the
//     dead process). When every connection that ever popped from the queue
//     is gone, a blocking push (held on the full queue, or new) fails with
//     std::system_error(EPIPE, "... every consumer has disconnected"): it
//     would go where nobody reads (try_push is not checked). Producers that
//     are gone end nothing, as more may come (staggered producers with
//     poison pills): a pop on the empty queue waits for a push, close() or
//     its deadline. End of stream is close().
//   - of the server: every call fails with std::system_error within its
//     timeout (at once, in practice: the kernel closes the sockets).
//
// Memory ordering: each call is linearizable (the server's single thread);
// a value pushed before push() returned is seen by any pop that starts
// after it, with all the pusher's writes to the message bytes.
//
// Contract
//   Requires: a running server; a name not used on it yet; capacity >= 1;
//     1 <= max_message_bytes <= server.max_message_bytes() (for
//     ManagerQueue<T>: sizeof(T) <= server.max_message_bytes()); timeout > 0.
//   Guarantees: exactly-once delivery, FIFO per producer; every call returns
//     or throws within its deadline plus 2 x timeout.
//   attach(): a queue of that name on the server (ENOENT otherwise).
//   Throws: create(): std::invalid_argument naming `capacity`, `name`,
//     `max_message_bytes` / sizeof(T), `timeout` or `server`;
//     std::system_error (EEXIST for a taken name; connect failures).
//     Every call: std::system_error on a dead or stuck server; push forms:
//     std::system_error(EPIPE) when every consumer has disconnected;
//     ManagerByteQueue pushes: std::invalid_argument for a message longer
//     than max_message_bytes().
//   Thread safety: any thread of any process forked after create(); fork
//     only while no thread is inside a call (ARCHITECTURE.md rule 3).
//
// Example
//   mpkit::ManagerServer server;
//   auto q = mpkit::ManagerQueue<std::uint64_t>::create(server, "jobs", 1024);
//   mpkit::Process worker([&] {
//     for (std::uint64_t v; q.pop(v) == mpkit::QueueStatus::kOk;) use(v);
//   });
//   for (std::uint64_t i = 0; i < n; ++i) (void)q.push(i);
//   q.close();

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpkit/ipc/remote/detail/manager_client.hpp"
#include "mpkit/ipc/remote/manager.hpp"
#include "mpkit/ipc/queue.hpp"

namespace mpkit {

namespace detail {
/// std::invalid_argument: the queue's messages are not sizeof(T) bytes.
[[noreturn]] void throw_manager_size_mismatch(std::string_view name, std::size_t message_bytes,
                                              std::size_t item_bytes);
}  // namespace detail

class ManagerByteQueue {
 public:
  /// A queue `name` on `server` for at most `capacity` messages of at most
  /// `max_message_bytes` each.
  [[nodiscard]] static ManagerByteQueue create(
      const ManagerServer& server, std::string_view name, std::size_t capacity,
      std::size_t max_message_bytes, std::chrono::milliseconds timeout = std::chrono::seconds(2));

  /// The existing queue `name` on the server at `socket_path`, from a
  /// process that did not inherit a proxy (one started with exec, say);
  /// capacity and message limit come from the server.
  [[nodiscard]] static ManagerByteQueue attach(
      const std::string& socket_path, std::string_view name,
      std::chrono::milliseconds timeout = std::chrono::seconds(2));

  ManagerByteQueue(ManagerByteQueue&&) noexcept = default;
  ManagerByteQueue& operator=(ManagerByteQueue&&) noexcept = default;
  ManagerByteQueue(const ManagerByteQueue&) = delete;
  ManagerByteQueue& operator=(const ManagerByteQueue&) = delete;
  ~ManagerByteQueue() = default;

  [[nodiscard]] QueueStatus push(std::span<const std::byte> message) {
    return push(message, std::nullopt, false);
  }
  [[nodiscard]] QueueStatus try_push(std::span<const std::byte> message) {
    return push(message, std::nullopt, true);
  }
  [[nodiscard]] QueueStatus push_until(std::span<const std::byte> message, Deadline deadline) {
    return push(message, deadline, false);
  }

  /// Pops into `out`, resized to the message.
  [[nodiscard]] QueueStatus pop(std::vector<std::byte>& out) {
    return pop(out, std::nullopt, false);
  }
  [[nodiscard]] QueueStatus try_pop(std::vector<std::byte>& out) {
    return pop(out, std::nullopt, true);
  }
  [[nodiscard]] QueueStatus pop_until(std::vector<std::byte>& out, Deadline deadline) {
    return pop(out, deadline, false);
  }

  /// The general forms: deadline nullopt waits without end (in rounds of
  /// `timeout`, see the file comment); try_only never waits.
  [[nodiscard]] QueueStatus push(std::span<const std::byte> message,
                                 std::optional<Deadline> deadline, bool try_only);
  [[nodiscard]] QueueStatus pop(std::vector<std::byte>& out, std::optional<Deadline> deadline,
                                bool try_only);
  /// Pops into `buffer` (at least max_message_bytes() long, or the message
  /// must fit); `size` receives the message length.
  [[nodiscard]] QueueStatus pop_into(std::span<std::byte> buffer, std::size_t& size,
                                     std::optional<Deadline> deadline, bool try_only);

  void close();
  [[nodiscard]] bool is_closed() const;
  /// Messages queued on the server now (a round trip; stale at once).
  [[nodiscard]] std::size_t size_guess() const;
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t max_message_bytes() const noexcept { return max_message_; }
  [[nodiscard]] const std::string& name() const noexcept { return object_.name(); }

 private:
  ManagerByteQueue(detail::ManagerObject object, std::size_t capacity,
                   std::size_t max_message) noexcept
      : object_(std::move(object)), capacity_(capacity), max_message_(max_message) {}
  template <class T>
  friend class ManagerQueue;
  [[nodiscard]] static ManagerByteQueue make(const char* who, const ManagerServer& server,
                                             std::string_view name, std::size_t capacity,
                                             std::size_t max_message,
                                             std::chrono::milliseconds timeout);
  [[nodiscard]] static ManagerByteQueue attach_as(const char* who, const std::string& socket_path,
                                                  std::string_view name,
                                                  std::chrono::milliseconds timeout);

  detail::ManagerObject object_;
  std::size_t capacity_;
  std::size_t max_message_;
};

template <class T>
class ManagerQueue {
  static_assert(std::is_trivially_copyable_v<T>,
                "items are copied as bytes to the server and back");

 public:
  using value_type = T;

  /// A queue `name` on `server` for at most `capacity` items.
  [[nodiscard]] static ManagerQueue create(
      const ManagerServer& server, std::string_view name, std::size_t capacity,
      std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    return ManagerQueue(
        ManagerByteQueue::make("ManagerQueue", server, name, capacity, sizeof(T), timeout));
  }

  /// The existing queue `name` on the server at `socket_path` (see
  /// ManagerByteQueue::attach). Throws std::invalid_argument when its
  /// messages are not sizeof(T) bytes.
  [[nodiscard]] static ManagerQueue attach(
      const std::string& socket_path, std::string_view name,
      std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    ManagerByteQueue queue =
        ManagerByteQueue::attach_as("ManagerQueue", socket_path, name, timeout);
    if (queue.max_message_bytes() != sizeof(T)) {
      detail::throw_manager_size_mismatch(name, queue.max_message_bytes(), sizeof(T));
    }
    return ManagerQueue(std::move(queue));
  }

  ManagerQueue(ManagerQueue&&) noexcept = default;
  ManagerQueue& operator=(ManagerQueue&&) noexcept = default;
  ManagerQueue(const ManagerQueue&) = delete;
  ManagerQueue& operator=(const ManagerQueue&) = delete;
  ~ManagerQueue() = default;

  [[nodiscard]] QueueStatus push(const T& value) {
    return queue_.push(bytes(value), std::nullopt, false);
  }
  [[nodiscard]] QueueStatus try_push(const T& value) {
    return queue_.push(bytes(value), std::nullopt, true);
  }
  [[nodiscard]] QueueStatus push_until(const T& value, Deadline deadline) {
    return queue_.push(bytes(value), deadline, false);
  }

  [[nodiscard]] QueueStatus pop(T& out) { return pop(out, std::nullopt, false); }
  [[nodiscard]] QueueStatus try_pop(T& out) { return pop(out, std::nullopt, true); }
  [[nodiscard]] QueueStatus pop_until(T& out, Deadline deadline) {
    return pop(out, deadline, false);
  }

  void close() { queue_.close(); }
  [[nodiscard]] bool is_closed() const { return queue_.is_closed(); }
  /// Items queued on the server now (a round trip; stale at once).
  [[nodiscard]] std::size_t size_guess() const { return queue_.size_guess(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return queue_.capacity(); }
  [[nodiscard]] const std::string& name() const noexcept { return queue_.name(); }

 private:
  explicit ManagerQueue(ManagerByteQueue queue) noexcept : queue_(std::move(queue)) {}

  static std::span<const std::byte> bytes(const T& value) noexcept {
    return std::as_bytes(std::span<const T, 1>(&value, 1));
  }

  QueueStatus pop(T& out, std::optional<Deadline> deadline, bool try_only) {
    // Not straight into `out`: a failed pop leaves `out` untouched.
    alignas(T) std::byte storage[sizeof(T)];
    std::size_t size = 0;
    const QueueStatus status = queue_.pop_into(storage, size, deadline, try_only);
    if (status == QueueStatus::kOk) {
      if (size != sizeof(T)) queue_.object_.fail_with(EBADMSG, "pop: a message of the wrong size");
      std::memcpy(&out, storage, sizeof(T));
    }
    return status;
  }

  ManagerByteQueue queue_;
};

static_assert(Queue<ManagerQueue<std::uint64_t>, std::uint64_t>);

}  // namespace mpkit
