// ManagerByteQueue, ManagerFlag, ManagerCounter: requests and the meaning of
// their replies. The protocols are in manager_queue.hpp and
// manager_flag_counter.hpp; the round trip is ManagerObject's.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>

#include "mpkit/ipc/remote/detail/manager_protocol.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/remote/manager_flag_counter.hpp"
#include "mpkit/ipc/remote/manager_queue.hpp"

namespace mpkit {
namespace {

using detail::ManagerObject;
using detail::ManagerReply;
using detail::manager::Op;
using detail::manager::Status;

std::int64_t to_ns(Deadline t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

void require_running(const char* who, const ManagerServer& server) {
  if (!server.running()) {
    throw_invalid_argument(std::string(who) +
                           "::create: server is not running (stopped or moved from)");
  }
}

// Maps the statuses a queue operation may return; throws for the rest.
QueueStatus queue_status(const ManagerObject& object, const char* operation, Status status) {
  switch (status) {
    case Status::kOk:
      return QueueStatus::kOk;
    case Status::kFull:
      return QueueStatus::kFull;
    case Status::kEmpty:
      return QueueStatus::kEmpty;
    case Status::kTimedOut:
      return QueueStatus::kTimedOut;
    case Status::kClosed:
      return QueueStatus::kClosed;
    default:
      object.fail(operation, status);
  }
}

// The deadline a request carries: kTryOnly; the caller's; or, for a wait
// without end, one round of `timeout` (the caller sends it again on kTimedOut).
std::int64_t request_deadline(const ManagerObject& object, std::optional<Deadline> deadline,
                              bool try_only) {
  if (try_only) return detail::manager::kTryOnly;
  if (deadline.has_value()) {
    // Deadline::min() would read as "try once": a deadline long past it is.
    return std::max(to_ns(*deadline), detail::manager::kTryOnly + 1);
  }
  return to_ns(Clock::now() + object.timeout());
}

}  // namespace

namespace detail {
void throw_manager_size_mismatch(std::string_view name, std::size_t message_bytes,
                                 std::size_t item_bytes) {
  throw_invalid_argument("ManagerQueue::attach \"" + std::string(name) + "\": its messages are " +
                         std::to_string(message_bytes) + " bytes, sizeof(T) is " +
                         std::to_string(item_bytes));
}
}  // namespace detail

// ---- ManagerByteQueue -------------------------------------------------------

ManagerByteQueue ManagerByteQueue::make(const char* who, const ManagerServer& server,
                                        std::string_view name, std::size_t capacity,
                                        std::size_t max_message,
                                        std::chrono::milliseconds timeout) {
  require_running(who, server);
  const std::string type(who);
  if (capacity == 0) throw_invalid_argument(type + "::create: capacity must be >= 1 (got 0)");
  if (capacity > static_cast<std::size_t>(INT64_MAX)) {
    throw_invalid_argument(type + "::create: capacity must be < 2^63 (got " +
                           std::to_string(capacity) + ")");
  }
  if (max_message == 0 || max_message > server.max_message_bytes()) {
    throw_invalid_argument(
        type + "::create: " + (type == "ManagerQueue" ? "sizeof(T)" : "max_message_bytes") +
        " must be 1 to " + std::to_string(server.max_message_bytes()) +
        " bytes, the server's frame limit less the header (got " + std::to_string(max_message) +
        ")");
  }
  ManagerObject object(type, server.socket_path(), name, Op::kCreateQueue,
                       static_cast<std::int64_t>(capacity), static_cast<std::uint32_t>(max_message),
                       timeout);
  return ManagerByteQueue(std::move(object), capacity, max_message);
}

ManagerByteQueue ManagerByteQueue::create(const ManagerServer& server, std::string_view name,
                                          std::size_t capacity, std::size_t max_message_bytes,
                                          std::chrono::milliseconds timeout) {
  return make("ManagerByteQueue", server, name, capacity, max_message_bytes, timeout);
}

ManagerByteQueue ManagerByteQueue::attach_as(const char* who, const std::string& socket_path,
                                             std::string_view name,
                                             std::chrono::milliseconds timeout) {
  detail::manager::AttachInfo info{};
  ManagerObject object(who, socket_path, name, Op::kAttach, 0,
                       static_cast<std::uint32_t>(detail::manager::Kind::kQueue), timeout,
                       std::as_writable_bytes(std::span(&info, 1)));
  return ManagerByteQueue(std::move(object), static_cast<std::size_t>(info.capacity),
                          info.max_message);
}

ManagerByteQueue ManagerByteQueue::attach(const std::string& socket_path, std::string_view name,
                                          std::chrono::milliseconds timeout) {
  return attach_as("ManagerByteQueue", socket_path, name, timeout);
}

QueueStatus ManagerByteQueue::push(std::span<const std::byte> message,
                                   std::optional<Deadline> deadline, bool try_only) {
  if (message.size() > max_message_) {
    throw_invalid_argument("ManagerByteQueue \"" + name() + "\": push: message of " +
                           std::to_string(message.size()) + " bytes exceeds max_message_bytes " +
                           std::to_string(max_message_));
  }
  for (;;) {
    const ManagerReply reply =
        object_.call(Op::kPush, 0, request_deadline(object_, deadline, try_only), message);
    if (reply.status == Status::kTimedOut && !try_only && !deadline.has_value())
      continue;  // next round
    if (reply.status == Status::kNoConsumer)
      object_.fail_with(EPIPE, "push: every consumer has disconnected");
    return queue_status(object_, "push", reply.status);
  }
}

QueueStatus ManagerByteQueue::pop_into(std::span<std::byte> buffer, std::size_t& size,
                                       std::optional<Deadline> deadline, bool try_only) {
  for (;;) {
    const ManagerReply reply =
        object_.call(Op::kPop, 0, request_deadline(object_, deadline, try_only), {}, buffer);
    if (reply.status == Status::kTimedOut && !try_only && !deadline.has_value())
      continue;  // next round
    size = reply.payload_bytes;
    return queue_status(object_, "pop", reply.status);
  }
}

QueueStatus ManagerByteQueue::pop(std::vector<std::byte>& out, std::optional<Deadline> deadline,
                                  bool try_only) {
  out.resize(max_message_);
  std::size_t size = 0;
  const QueueStatus status = pop_into(out, size, deadline, try_only);
  out.resize(status == QueueStatus::kOk ? size : 0);
  return status;
}

void ManagerByteQueue::close() {
  const ManagerReply reply = object_.call(Op::kClose, 0, detail::manager::kTryOnly);
  if (reply.status != Status::kOk) object_.fail("close", reply.status);
}

bool ManagerByteQueue::is_closed() const {
  const ManagerReply reply = object_.call(Op::kIsClosed, 0, detail::manager::kTryOnly);
  if (reply.status != Status::kOk) object_.fail("is_closed", reply.status);
  return reply.value != 0;
}

std::size_t ManagerByteQueue::size_guess() const {
  const ManagerReply reply = object_.call(Op::kSize, 0, detail::manager::kTryOnly);
  if (reply.status != Status::kOk) object_.fail("size_guess", reply.status);
  return static_cast<std::size_t>(reply.value);
}

// ---- ManagerFlag ------------------------------------------------------------

ManagerFlag ManagerFlag::create(const ManagerServer& server, std::string_view name,
                                std::chrono::milliseconds timeout) {
  require_running("ManagerFlag", server);
  return ManagerFlag(
      ManagerObject("ManagerFlag", server.socket_path(), name, Op::kCreateFlag, 0, 0, timeout));
}

ManagerFlag ManagerFlag::attach(const std::string& socket_path, std::string_view name,
                                std::chrono::milliseconds timeout) {
  detail::manager::AttachInfo info{};
  return ManagerFlag(ManagerObject("ManagerFlag", socket_path, name, Op::kAttach, 0,
                                   static_cast<std::uint32_t>(detail::manager::Kind::kFlag),
                                   timeout, std::as_writable_bytes(std::span(&info, 1))));
}

void ManagerFlag::store(bool value) {
  const ManagerReply reply = object_.call(Op::kFlagSet, value ? 1 : 0, detail::manager::kTryOnly);
  if (reply.status != Status::kOk) object_.fail(value ? "set" : "clear", reply.status);
}

void ManagerFlag::set() { store(true); }
void ManagerFlag::clear() { store(false); }

bool ManagerFlag::is_set() {
  const ManagerReply reply = object_.call(Op::kFlagGet, 0, detail::manager::kTryOnly);
  if (reply.status != Status::kOk) object_.fail("is_set", reply.status);
  return reply.value != 0;
}

// ---- ManagerCounter ---------------------------------------------------------

ManagerCounter ManagerCounter::create(const ManagerServer& server, std::string_view name,
                                      std::chrono::milliseconds timeout) {
  require_running("ManagerCounter", server);
  return ManagerCounter(ManagerObject("ManagerCounter", server.socket_path(), name,
                                      Op::kCreateCounter, 0, 0, timeout));
}

ManagerCounter ManagerCounter::attach(const std::string& socket_path, std::string_view name,
                                      std::chrono::milliseconds timeout) {
  detail::manager::AttachInfo info{};
  return ManagerCounter(ManagerObject("ManagerCounter", socket_path, name, Op::kAttach, 0,
                                      static_cast<std::uint32_t>(detail::manager::Kind::kCounter),
                                      timeout, std::as_writable_bytes(std::span(&info, 1))));
}

std::int64_t ManagerCounter::add(std::int64_t n) {
  const ManagerReply reply = object_.call(Op::kCounterAdd, n, detail::manager::kTryOnly);
  if (reply.status != Status::kOk) object_.fail("add", reply.status);
  return reply.value;
}

std::int64_t ManagerCounter::get() {
  const ManagerReply reply = object_.call(Op::kCounterGet, 0, detail::manager::kTryOnly);
  if (reply.status != Status::kOk) object_.fail("get", reply.status);
  return reply.value;
}

}  // namespace mpkit
