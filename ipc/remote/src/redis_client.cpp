#include "mpkit/ipc/remote/redis_client.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

#include <hiredis.h>

#include "mpkit/ipc/error.hpp"

namespace mpkit {
namespace {

// Largest argument list passed without a heap allocation.
constexpr std::size_t kInlineArgs = 8;
// Longest key shown in an error message; longer ones are cut with "...".
constexpr std::size_t kShownKeyBytes = 64;
constexpr int kDefaultPort = 6379;

struct Endpoint {
  bool is_unix = false;
  std::string path;  // unix
  std::string host;  // tcp
  int port = 0;      // tcp
};

[[noreturn]] void throw_bad_url(std::string_view url, std::string_view why) {
  throw_invalid_argument("RedisClient::connect: malformed url \"" +
                         std::string(url) + "\" (" + std::string(why) + ")");
}

Endpoint parse_url(std::string_view url) {
  constexpr std::string_view kUnix = "unix://";
  constexpr std::string_view kRedis = "redis://";
  Endpoint endpoint;
  if (url.find('\0') != std::string_view::npos)
    throw_bad_url(url, "embedded NUL");
  if (url.starts_with(kUnix)) {
    endpoint.is_unix = true;
    endpoint.path = std::string(url.substr(kUnix.size()));
    if (endpoint.path.empty() || endpoint.path.front() != '/') {
      throw_bad_url(url, "expected unix:///absolute/path");
    }
    // hiredis copies the path into sun_path with strncpy: a longer path
    // would be cut silently and name some other socket.
    if (endpoint.path.size() >= sizeof(sockaddr_un::sun_path)) {
      throw_bad_url(url, "socket path longer than " +
                             std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
                             " bytes");
    }
    return endpoint;
  }
  std::string_view rest = url;
  const bool has_scheme = rest.starts_with(kRedis);
  if (has_scheme) {
    rest.remove_prefix(kRedis.size());
  } else if (rest.find("://") != std::string_view::npos) {
    throw_bad_url(url, "expected unix://, redis:// or host:port");
  }
  if (rest.find_first_of("@/?") != std::string_view::npos) {
    throw_bad_url(url,
                  "user, password, database and options are not supported");
  }
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (rest.starts_with('[')) {  // [IPv6]:port
    const auto close = rest.find(']');
    if (close == std::string_view::npos) throw_bad_url(url, "unclosed '['");
    host = rest.substr(1, close - 1);
    const auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw_bad_url(url, "expected ':' after ']'");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = rest.rfind(':');
    if (colon != std::string_view::npos && rest.find(':') != colon) {
      throw_bad_url(url, "an IPv6 address needs brackets: [::1]:6379");
    }
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = rest.substr(colon + 1);
    }
  }
  if (host.empty()) throw_bad_url(url, "missing host");
  if (!has_port) {
    if (!has_scheme) throw_bad_url(url, "expected host:port");
    endpoint.port = kDefaultPort;
  } else {
    int port = 0;
    const auto [end, ec] = std::from_chars(
        port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc{} ||
        end != port_text.data() + port_text.size() || port < 1 ||
        port > 65535) {
      throw_bad_url(url, "port must be 1-65535");
    }
    endpoint.port = port;
  }
  endpoint.host = std::string(host);
  return endpoint;
}

timeval to_timeval(std::chrono::milliseconds timeout) noexcept {
  // Cap at a day: setsockopt rejects absurd values; nothing waits that long.
  const long long ms = std::min<long long>(timeout.count(), 24LL * 3600 * 1000);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

// The errno behind a hiredis I/O error. hiredis formats errstr from errno
// ("<prefix>: <strerror>" or "<strerror>"), and errno may have been touched on
// the way out, so the text decides; `saved` is tried first.
int errno_from_errstr(std::string_view errstr, int saved) noexcept {
  auto matches = [&](int candidate) {
    const std::string_view text = std::strerror(candidate);
    return errstr.ends_with(text) &&
           (errstr.size() == text.size() ||
            errstr.substr(0, errstr.size() - text.size()).ends_with(": "));
  };
  if (saved > 0 && matches(saved)) return saved;
  for (int candidate = 1; candidate < 134; ++candidate) {
    if (matches(candidate)) return candidate;
  }
  return saved > 0 ? saved : EIO;
}

// Maps a failed context to an errno; a socket timeout (EAGAIN from a read or
// write with SO_RCVTIMEO/SO_SNDTIMEO) becomes ETIMEDOUT.
int error_code(const redisContext& context, int saved_errno) noexcept {
  switch (context.err) {
    case REDIS_ERR_IO: {
      const int code = errno_from_errstr(context.errstr, saved_errno);
      return code == EAGAIN || code == EWOULDBLOCK ? ETIMEDOUT : code;
    }
    case REDIS_ERR_EOF:
      return ECONNRESET;  // errstr: "Server closed the connection"
    case REDIS_ERR_PROTOCOL:
      return EPROTO;
    case REDIS_ERR_OOM:
      return ENOMEM;
    default:
      return EIO;  // REDIS_ERR_OTHER, e.g. "Name or service not known"
  }
}

// "<what>" plus hiredis's own text when strerror(code) alone would hide it.
std::string describe_failure(std::string what, const redisContext& context,
                             int code) {
  const std::string_view errstr = context.errstr;
  if (!errstr.empty() && !errstr.ends_with(std::strerror(code)) &&
      !(code == ETIMEDOUT && errstr.ends_with(std::strerror(EAGAIN)))) {
    what += " (";
    what += errstr;
    what += ')';
  }
  return what;
}

// "redis GET flag": the command and its key, made printable and short.
std::string describe(std::span<const std::string_view> args) {
  std::string text = "redis";
  for (std::size_t i = 0; i < std::min<std::size_t>(args.size(), 2); ++i) {
    text += ' ';
    const std::string_view arg = args[i];
    for (std::size_t j = 0; j < std::min(arg.size(), kShownKeyBytes); ++j) {
      const auto byte = static_cast<unsigned char>(arg[j]);
      if (i == 0 && byte >= 'a' && byte <= 'z') {
        text += static_cast<char>(byte - 'a' + 'A');
      } else if (byte >= 0x20 && byte < 0x7f) {
        text += static_cast<char>(byte);
      } else {
        static constexpr char kHex[] = "0123456789abcdef";
        text += "\\x";
        text += kHex[byte >> 4];
        text += kHex[byte & 0xf];
      }
    }
    if (arg.size() > kShownKeyBytes) text += "...";
  }
  return text;
}

std::string_view reply_type_name(int type) noexcept {
  switch (type) {
    case REDIS_REPLY_STRING:
      return "string";
    case REDIS_REPLY_ARRAY:
      return "array";
    case REDIS_REPLY_INTEGER:
      return "integer";
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STATUS:
      return "status";
    case REDIS_REPLY_ERROR:
      return "error";
    default:
      return "unknown";
  }
}

[[noreturn]] void throw_unexpected(const redisReply& reply,
                                   std::span<const std::string_view> args) {
  throw RedisError(describe(args) + ": unexpected " +
                       std::string(reply_type_name(reply.type)) + " reply",
                   std::string());
}

std::string to_string(const redisReply& reply) {
  return std::string(reply.str, reply.len);
}

long long expect_integer(const redisReply& reply,
                         std::span<const std::string_view> args) {
  if (reply.type != REDIS_REPLY_INTEGER) throw_unexpected(reply, args);
  return reply.integer;
}

void flatten(const redisReply& reply, std::vector<std::string>& out, bool top) {
  switch (reply.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    // An error nests only in arrays (EXEC); a top-level one threw already.
    case REDIS_REPLY_ERROR:
      out.push_back(to_string(reply));
      break;
    case REDIS_REPLY_INTEGER:
      out.push_back(std::to_string(reply.integer));
      break;
    case REDIS_REPLY_NIL:
      if (!top) out.emplace_back();
      break;
    case REDIS_REPLY_ARRAY:
      for (std::size_t i = 0; i < reply.elements; ++i)
        flatten(*reply.element[i], out, false);
      break;
    default:
      break;
  }
}

// hiredis writes with write(2): on a connection the server closed, that raises
// SIGPIPE, whose default action would kill the caller (a test binary, a pool
// worker). A library must not change the process-wide disposition, so each
// command blocks SIGPIPE in the calling thread and, if its write failed with
// EPIPE, consumes the SIGPIPE it caused before unblocking (the technique
// libcurl and OpenSSL document).
class SigpipeGuard {
 public:
  SigpipeGuard() noexcept {
    ::sigemptyset(&pipe_);
    ::sigaddset(&pipe_, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_mask_);
    if (::sigismember(&old_mask_, SIGPIPE) == 1) {
      // The caller blocks SIGPIPE itself: a pending one may be theirs.
      sigset_t pending;
      ::sigpending(&pending);
      was_pending_ = ::sigismember(&pending, SIGPIPE) == 1;
    }
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  ~SigpipeGuard() { ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr); }

  // After a failed command: takes back a SIGPIPE the command raised.
  void discard_own_sigpipe() noexcept {
    if (was_pending_) return;
    sigset_t pending;
    if (::sigpending(&pending) != 0 || ::sigismember(&pending, SIGPIPE) != 1)
      return;
    const timespec zero{};
    while (::sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }

 private:
  sigset_t pipe_{};
  sigset_t old_mask_{};
  bool was_pending_ = false;
};

}  // namespace

RedisError::RedisError(const std::string& what, std::string server_message)
    : std::runtime_error(what), server_message_(std::move(server_message)) {}

void RedisClient::ReplyDeleter::operator()(redisReply* reply) const noexcept {
  ::freeReplyObject(reply);
}

RedisClient::RedisClient(redisContext* context, std::string url,
                         std::chrono::milliseconds timeout) noexcept
    : context_(context),
      url_(std::move(url)),
      timeout_(timeout),
      owner_pid_(::getpid()) {}

RedisClient::RedisClient(RedisClient&& other) noexcept
    : context_(std::exchange(other.context_, nullptr)),
      url_(std::move(other.url_)),
      timeout_(other.timeout_),
      socket_timeout_(other.socket_timeout_),
      owner_pid_(other.owner_pid_),
      broken_errno_(other.broken_errno_) {}

RedisClient& RedisClient::operator=(RedisClient&& other) noexcept {
  if (this != &other) {
    if (context_ != nullptr) ::redisFree(context_);
    context_ = std::exchange(other.context_, nullptr);
    url_ = std::move(other.url_);
    timeout_ = other.timeout_;
    socket_timeout_ = other.socket_timeout_;
    owner_pid_ = other.owner_pid_;
    broken_errno_ = other.broken_errno_;
  }
  return *this;
}

// redisFree only closes the socket (no QUIT is sent), so it is also safe in a
// forked child holding a copy of the parent's connection.
RedisClient::~RedisClient() {
  if (context_ != nullptr) ::redisFree(context_);
}

RedisClient RedisClient::connect(std::string_view url,
                                 std::chrono::milliseconds timeout) {
  if (timeout <= std::chrono::milliseconds::zero()) {
    throw_invalid_argument("RedisClient::connect " + std::string(url) +
                           ": timeout must be > 0 ms (got " +
                           std::to_string(timeout.count()) + ")");
  }
  const Endpoint endpoint = parse_url(url);
  const std::string what = "redis connect " + std::string(url);
  const timeval tv = to_timeval(timeout);
  errno = 0;
  redisContext* context =
      endpoint.is_unix
          ? ::redisConnectUnixWithTimeout(endpoint.path.c_str(), tv)
          : ::redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, tv);
  const int saved = errno;
  if (context == nullptr) throw_system_error(ENOMEM, what);
  // From here on the client owns the context (freed if we throw).
  RedisClient client(context, std::string(url), timeout);
  if (context->err != 0) {
    const int code = error_code(*context, saved);
    throw_system_error(code, describe_failure(what, *context, code));
  }
  // hiredis opens its socket without O_CLOEXEC: a program exec'd by this
  // process (a redis-server, a helper) must not inherit the connection.
  const int flags = ::fcntl(context->fd, F_GETFD);
  if (flags >= 0) ::fcntl(context->fd, F_SETFD, flags | FD_CLOEXEC);
  // The connect timeout bounds only connect(); SO_RCVTIMEO/SO_SNDTIMEO bound
  // every later read and write.
  if (::redisSetTimeout(context, tv) != REDIS_OK) {
    const int code = error_code(*context, errno);
    throw_system_error(
        code, describe_failure(what + ": setting the socket timeout", *context,
                               code));
  }
  client.socket_timeout_ = timeout;
  return client;
}

RedisClient::Reply RedisClient::call(std::span<const std::string_view> args,
                                     std::chrono::milliseconds server_wait) {
  if (args.empty())
    throw_invalid_argument("RedisClient::command: empty argument list");
  if (context_ == nullptr)
    throw std::logic_error(describe(args) + ": RedisClient used after move");
  if (::getpid() != owner_pid_) {
    throw std::logic_error(
        describe(args) + ": RedisClient connected in pid " +
        std::to_string(owner_pid_) + " used in pid " +
        std::to_string(::getpid()) +
        " (after fork, each process connects its own client)");
  }
  if (context_->err != 0) {
    throw_system_error(
        broken_errno_ != 0 ? broken_errno_ : EIO,
        describe(args) + " (connection already broken: connect a new client)");
  }
  const std::chrono::milliseconds wanted = timeout_ + server_wait;
  if (wanted != socket_timeout_) {
    if (::redisSetTimeout(context_, to_timeval(wanted)) != REDIS_OK) {
      broken_errno_ = error_code(*context_, errno);
      throw_system_error(
          broken_errno_,
          describe_failure(describe(args) + ": setting the socket timeout",
                           *context_, broken_errno_));
    }
    socket_timeout_ = wanted;
  }

  if (args.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw_invalid_argument("RedisClient::command: too many arguments");
  }
  std::array<const char*, kInlineArgs> inline_argv{};
  std::array<std::size_t, kInlineArgs> inline_lengths{};
  std::vector<const char*> heap_argv;
  std::vector<std::size_t> heap_lengths;
  const char** argv = inline_argv.data();
  std::size_t* lengths = inline_lengths.data();
  if (args.size() > kInlineArgs) {
    heap_argv.resize(args.size());
    heap_lengths.resize(args.size());
    argv = heap_argv.data();
    lengths = heap_lengths.data();
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    // Explicit lengths make every argument binary-safe (the format API's %b).
    argv[i] = args[i].data();
    lengths[i] = args[i].size();
  }
  void* raw = nullptr;
  {
    SigpipeGuard guard;
    errno = 0;
    raw = ::redisCommandArgv(context_, static_cast<int>(args.size()), argv,
                             lengths);
    const int saved = errno;
    if (raw == nullptr) {
      guard.discard_own_sigpipe();
      broken_errno_ = error_code(*context_, saved);
    }
  }
  if (raw == nullptr) {
    throw_system_error(
        broken_errno_,
        describe_failure(describe(args), *context_, broken_errno_));
  }
  Reply reply(static_cast<redisReply*>(raw));
  if (reply->type == REDIS_REPLY_ERROR) {
    std::string message = to_string(*reply);
    // Built before `message` is moved from (argument order is unspecified).
    const std::string what = describe(args) + ": " + message;
    throw RedisError(what, std::move(message));
  }
  return reply;
}

void RedisClient::ping() {
  const std::array<std::string_view, 1> args{"PING"};
  const Reply reply = call(args);
  if (reply->type != REDIS_REPLY_STATUS || to_string(*reply) != "PONG")
    throw_unexpected(*reply, args);
}

std::optional<std::string> RedisClient::get(std::string_view key) {
  const std::array<std::string_view, 2> args{"GET", key};
  const Reply reply = call(args);
  if (reply->type == REDIS_REPLY_NIL) return std::nullopt;
  if (reply->type != REDIS_REPLY_STRING) throw_unexpected(*reply, args);
  return to_string(*reply);
}

void RedisClient::set(std::string_view key, std::string_view value) {
  const std::array<std::string_view, 3> args{"SET", key, value};
  const Reply reply = call(args);
  if (reply->type != REDIS_REPLY_STATUS) throw_unexpected(*reply, args);
}

long long RedisClient::incr(std::string_view key) {
  const std::array<std::string_view, 2> args{"INCR", key};
  return expect_integer(*call(args), args);
}

long long RedisClient::del(std::string_view key) {
  const std::array<std::string_view, 2> args{"DEL", key};
  return expect_integer(*call(args), args);
}

long long RedisClient::lpush(std::string_view key, std::string_view value) {
  const std::array<std::string_view, 3> args{"LPUSH", key, value};
  return expect_integer(*call(args), args);
}

long long RedisClient::llen(std::string_view key) {
  const std::array<std::string_view, 2> args{"LLEN", key};
  return expect_integer(*call(args), args);
}

std::optional<std::string> RedisClient::brpop(
    std::string_view key, std::chrono::milliseconds timeout) {
  if (timeout < std::chrono::milliseconds::zero()) {
    throw_invalid_argument("RedisClient::brpop: timeout must be >= 0 ms (got " +
                           std::to_string(timeout.count()) + ")");
  }
  if (timeout == std::chrono::milliseconds::zero()) {
    // BRPOP 0 means "block forever" to Redis; here zero means "do not wait".
    const std::array<std::string_view, 2> args{"RPOP", key};
    const Reply reply = call(args);
    if (reply->type == REDIS_REPLY_NIL) return std::nullopt;
    if (reply->type != REDIS_REPLY_STRING) throw_unexpected(*reply, args);
    return to_string(*reply);
  }
  // Seconds as a decimal ("0.2005"). Redis 7 converts with
  // (long long)(s * 1000), which can truncate 0.2 to 199 ms; the extra half
  // millisecond keeps the server from giving up before `timeout`.
  const long long ms = timeout.count();
  char seconds[48];
  char* end = std::to_chars(seconds, seconds + sizeof(seconds), ms / 1000).ptr;
  const long long millis = ms % 1000;
  *end++ = '.';
  *end++ = static_cast<char>('0' + millis / 100);
  *end++ = static_cast<char>('0' + millis / 10 % 10);
  *end++ = static_cast<char>('0' + millis % 10);
  *end++ = '5';
  const std::array<std::string_view, 3> args{"BRPOP", key,
                                             std::string_view(seconds, end)};
  const Reply reply = call(args, timeout);
  if (reply->type == REDIS_REPLY_NIL) return std::nullopt;
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
      reply->element[1]->type != REDIS_REPLY_STRING) {
    throw_unexpected(*reply, args);
  }
  return to_string(*reply->element[1]);
}

std::vector<std::string> RedisClient::command(
    std::initializer_list<std::string_view> args) {
  return command(std::span<const std::string_view>(args.begin(), args.size()));
}

std::vector<std::string> RedisClient::command(
    std::span<const std::string_view> args) {
  const Reply reply = call(args);
  std::vector<std::string> out;
  flatten(*reply, out, true);
  return out;
}

}  // namespace mpkit
