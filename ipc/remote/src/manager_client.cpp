// ManagerObject: pooled per-process connections and one bounded round trip
// per call. The protocol is in detail/manager_client.hpp and
// detail/manager_protocol.hpp.

#include "mpkit/ipc/remote/detail/manager_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit::detail {
namespace {

using namespace manager;
using Clock = std::chrono::steady_clock;

// Idle connections a process keeps per object; more are closed on return.
constexpr std::size_t kMaxIdle = 32;

std::int64_t to_ns(Clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

void close_fd(int fd) noexcept {
  if (fd >= 0) (void)::close(fd);  // Linux closes even on EINTR: never retry
}

// poll() for `events` until `until`: true when ready, false at the deadline.
// EINTR polls again with what is left; a hang-up counts as ready (the read
// or write that follows reports it).
bool wait_for(int fd, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      pollfd p{fd, events, 0};
      const int n = ::poll(&p, 1, 0);
      return n > 0;
    }
    pollfd p{fd, events, 0};
    const int n = ::poll(
        &p, 1, static_cast<int>(std::min<std::chrono::milliseconds::rep>(left.count(), 60'000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// Skips `n` bytes of an iovec array in place.
void advance(iovec*& iov, int& count, std::size_t n) noexcept {
  while (count > 0 && n >= iov->iov_len) {
    n -= iov->iov_len;
    ++iov;
    --count;
  }
  if (count > 0) {
    iov->iov_base = static_cast<char*>(iov->iov_base) + n;
    iov->iov_len -= n;
  }
}

}  // namespace

struct ManagerObject::State {
  std::string who;  // "ManagerQueue", "ManagerFlag", "ManagerCounter"
  std::string socket_path;
  std::string name;
  std::uint32_t id = 0;
  std::chrono::milliseconds timeout{0};

  std::mutex mutex;       // guards pool_pid and idle
  pid_t pool_pid = 0;     // who filled `idle`
  std::vector<int> idle;  // connections of pool_pid not in use

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  State(State&&) = delete;
  State& operator=(State&&) = delete;
  ~State() {
    // A forked child's copies are closed too: harmless, they are only copies.
    for (const int fd : idle) close_fd(fd);
  }

  [[noreturn]] void fail_with(int code, std::string_view what) const {
    throw std::system_error(code, std::generic_category(),
                            who + " \"" + name + "\" (" + socket_path + "): " + std::string(what));
  }

  // A connection of this process: an idle one, or a new one.
  int take(Clock::time_point until, std::string_view operation) {
    {
      std::scoped_lock guard(mutex);
      const pid_t self = current_pid();
      if (pool_pid != self) {
        // Inherited across fork: the parent owns the conversation on those
        // sockets. Closing our copies leaves the parent's open.
        for (const int fd : idle) close_fd(fd);
        idle.clear();
        pool_pid = self;
      }
      if (!idle.empty()) {
        const int fd = idle.back();
        idle.pop_back();
        return fd;
      }
    }
    return connect_new(until, operation);
  }

  void give_back(int fd) noexcept {
    {
      std::scoped_lock guard(mutex);
      if (pool_pid == current_pid() && idle.size() < kMaxIdle) {
        try {
          idle.push_back(fd);
          return;
        } catch (...) {
          // no memory for the slot: close it instead
        }
      }
    }
    close_fd(fd);
  }

  int connect_new(Clock::time_point until, std::string_view operation) const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail_with(errno, std::string(operation) + ": socket(AF_UNIX)");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof(address.sun_path)) {
      close_fd(fd);
      fail_with(ENAMETOOLONG, std::string(operation) + ": connect");
    }
    std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
    for (;;) {
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0)
        return fd;
      const int error = errno;
      if (error == EINTR) continue;
      // EAGAIN: the server's backlog is full (it is busy or stuck): retry
      // until the deadline.
      if (error == EAGAIN && Clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      close_fd(fd);
      fail_with(error == EAGAIN ? ETIMEDOUT : error, std::string(operation) + ": connect");
    }
  }
};

namespace {

std::string_view op_name(Op op) noexcept {
  switch (op) {
    case Op::kPing:
      return "ping";
    case Op::kCreateQueue:
    case Op::kCreateFlag:
    case Op::kCreateCounter:
      return "create";
    case Op::kAttach:
      return "attach";
    case Op::kPush:
      return "push";
    case Op::kPop:
      return "pop";
    case Op::kClose:
      return "close";
    case Op::kIsClosed:
      return "is_closed";
    case Op::kSize:
      return "size_guess";
    case Op::kFlagSet:
      return "set";
    case Op::kFlagGet:
      return "is_set";
    case Op::kCounterAdd:
      return "add";
    case Op::kCounterGet:
      return "get";
  }
  return "request";
}

}  // namespace

ManagerObject::ManagerObject(std::string who, std::string socket_path, std::string_view name,
                             Op first_op, std::int64_t argument, std::uint32_t aux,
                             std::chrono::milliseconds timeout, std::span<std::byte> first_reply)
    : state_(std::make_unique<State>()) {
  const std::string op(op_name(first_op));  // "create" or "attach"
  if (name.empty() || name.size() > kMaxNameBytes) {
    throw_invalid_argument(who + "::" + op + ": name must be 1 to " +
                           std::to_string(kMaxNameBytes) + " bytes (got " +
                           std::to_string(name.size()) + ")");
  }
  if (timeout.count() <= 0) {
    throw_invalid_argument(who + "::" + op + ": timeout must be > 0 ms (got " +
                           std::to_string(timeout.count()) + " ms)");
  }
  state_->who = std::move(who);
  state_->socket_path = std::move(socket_path);
  state_->name = std::string(name);
  state_->timeout = timeout;

  const ManagerReply reply =
      call(first_op, argument, kTryOnly, std::as_bytes(std::span(name)), first_reply, aux);
  switch (reply.status) {
    case Status::kOk:
      state_->id = static_cast<std::uint32_t>(reply.value);
      if (reply.payload_bytes != first_reply.size()) fail_with(EBADMSG, op + ": short reply");
      return;
    case Status::kExists:
      fail_with(EEXIST, op + ": the name is taken on this server");
    case Status::kInvalidArgument:
      throw_invalid_argument(state_->who + "::" + op + " \"" + state_->name +
                             "\": the server refused the arguments");
    case Status::kNoSuchObject:
      fail_with(ENOENT, op + ": no object of that name on this server");
    case Status::kWrongKind:
      fail_with(EPROTOTYPE, op + ": the name holds another kind of object");
    default:
      fail(op, reply.status);
  }
}

ManagerObject::ManagerObject(ManagerObject&&) noexcept = default;
ManagerObject& ManagerObject::operator=(ManagerObject&&) noexcept = default;
ManagerObject::~ManagerObject() = default;

const std::string& ManagerObject::name() const noexcept { return state_->name; }
const std::string& ManagerObject::socket_path() const noexcept { return state_->socket_path; }
std::chrono::milliseconds ManagerObject::timeout() const noexcept { return state_->timeout; }

void ManagerObject::fail_with(int code, std::string_view what) const {
  state_->fail_with(code, what);
}

void ManagerObject::fail(std::string_view operation, Status status) const {
  const std::string op(operation);
  switch (status) {
    case Status::kExists:
      fail_with(EEXIST, op + ": the name is taken on this server");
    case Status::kInvalidArgument:
      fail_with(EINVAL, op + ": the server refused the arguments");
    case Status::kNoSuchObject:
      fail_with(ENOENT, op + ": the server has no such object");
    case Status::kWrongKind:
      fail_with(EPROTOTYPE, op + ": the object is of another kind");
    case Status::kTooLarge:
      fail_with(EMSGSIZE, op + ": the request exceeds the server's frame limit");
    case Status::kBadRequest:
      fail_with(EBADMSG, op + ": the server called the request malformed");
    case Status::kUnknownOp:
      fail_with(EOPNOTSUPP, op + ": the server does not know the operation");
    case Status::kServerError:
      fail_with(ENOMEM, op + ": the server ran out of memory");
    case Status::kNoConsumer:
      fail_with(EPIPE, op + ": every consumer has disconnected");
    default:
      fail_with(EPROTO, op + ": unexpected status " + std::to_string(static_cast<int>(status)));
  }
}

ManagerReply ManagerObject::call(Op op, std::int64_t argument, std::int64_t deadline_ns,
                                 std::span<const std::byte> payload,
                                 std::span<std::byte> reply_payload, std::uint32_t aux) const {
  State& s = *state_;
  const std::string_view operation = op_name(op);
  const auto now = Clock::now();
  // The reply is due by the request's own deadline; `timeout` more is the
  // margin for a slow server before we call it stuck.
  // In ns, saturating: a deadline of Deadline::max() must not overflow.
  const std::int64_t margin_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(s.timeout).count();
  const std::int64_t base_ns =
      deadline_ns != kTryOnly ? std::max(deadline_ns, to_ns(now)) : to_ns(now);
  const std::int64_t due_ns = base_ns > INT64_MAX - margin_ns ? INT64_MAX : base_ns + margin_ns;
  const auto due = Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(due_ns)));
  const auto send_until = now + s.timeout;

  RequestHeader request{};
  request.frame_bytes = static_cast<std::uint32_t>(kRequestHeaderBytes + payload.size());
  request.magic = kMagic;
  request.version = kVersion;
  request.op = static_cast<std::uint8_t>(op);
  request.object = s.id;
  request.deadline_ns = deadline_ns;
  request.argument = argument;
  request.aux = aux;

  const int fd = s.take(send_until, operation);
  const auto broken = [&](int code, const std::string& what) {
    close_fd(fd);
    s.fail_with(code, std::string(operation) + ": " + what);
  };

  // Send the header and payload; partial writes and EINTR resume.
  iovec out[2] = {{&request, sizeof request},
                  {const_cast<std::byte*>(payload.data()), payload.size()}};
  iovec* out_iov = out;
  int out_count = payload.empty() ? 1 : 2;
  std::size_t unsent = sizeof request + payload.size();
  while (unsent > 0) {
    msghdr message{};
    message.msg_iov = out_iov;
    message.msg_iovlen = static_cast<std::size_t>(out_count);
    const ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait_for(fd, POLLOUT, send_until)) broken(ETIMEDOUT, "the server accepts no request");
        continue;
      }
      broken(errno, "send");
    }
    unsent -= static_cast<std::size_t>(sent);
    advance(out_iov, out_count, static_cast<std::size_t>(sent));
  }

  // Read the reply header and payload; nothing else ever arrives on this
  // connection, so reading into both at once cannot take a later frame.
  ReplyHeader reply{};
  iovec in[2] = {{&reply, sizeof reply}, {reply_payload.data(), reply_payload.size()}};
  iovec* in_iov = in;
  int in_count = reply_payload.empty() ? 1 : 2;
  std::size_t got = 0;
  std::size_t expected = sizeof reply;  // until the header says more
  while (got < expected) {
    if (!wait_for(fd, POLLIN, due)) broken(ETIMEDOUT, "no reply from the server in time");
    const ssize_t n = ::readv(fd, in_iov, in_count);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      broken(errno, "receive");
    }
    if (n == 0) broken(ECONNRESET, "the server closed the connection");
    got += static_cast<std::size_t>(n);
    advance(in_iov, in_count, static_cast<std::size_t>(n));
    if (got >= sizeof reply && expected == sizeof reply) {
      if (reply.magic != kMagic || reply.version != kVersion || reply.frame_bytes < sizeof reply ||
          reply.frame_bytes - sizeof reply > reply_payload.size()) {
        broken(EBADMSG, "malformed reply");
      }
      expected = reply.frame_bytes;
    }
    if (got > expected) broken(EBADMSG, "reply longer than its frame");
  }
  s.give_back(fd);
  return {static_cast<Status>(reply.status), reply.value, expected - sizeof reply};
}

}  // namespace mpkit::detail
