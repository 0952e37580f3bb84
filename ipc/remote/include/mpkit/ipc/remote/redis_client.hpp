#pragma once

// RedisClient: a small, blocking, bounded Redis client over hiredis.
//
// Why it exists: the book's experiments use Redis as one more way to share a
// flag, a counter or a queue between processes. mpkit compares those against
// shared memory, so the client must be honest about failure: every connect and
// every command is bounded by a timeout and a dead or unreachable server is an
// exception within that bound, never a hang. hiredis stays an implementation
// detail (it is linked PRIVATE): this header only forward-declares its context.
//
// Contract
//   Requires: a URL "unix:///abs/path.sock", "redis://host[:port]" (default
//             port 6379) or "host:port"; a timeout > 0.
//   Guarantees: connect() and every blocking read/write of a command take at
//             most `timeout` (brpop: its own timeout plus `timeout`). Values
//             and keys are binary-safe (embedded NULs survive). An error
//             *reply* (wrong type, not an integer) leaves the client usable;
//             an I/O error, a timeout or a closed connection breaks it: the
//             reply stream can no longer be trusted, so that call and every
//             later one throw std::system_error; connect a new client.
//             Writing to a closed connection never raises SIGPIPE in the
//             caller: commands block SIGPIPE in the calling thread while they
//             run and discard the one they caused. Cost per command, beside
//             the round trip: two pthread_sigmask calls and one getpid().
//   Throws:   std::invalid_argument: malformed URL or timeout (names them).
//             std::system_error: connect or I/O failure, errno plus what was
//             attempted ("redis connect unix:///x/redis.sock: No such file or
//             directory", "redis GET flag: Connection reset by peer"); a
//             timeout is ETIMEDOUT.
//             RedisError: the server answered with an error reply.
//             std::logic_error: the client is used in a process other than
//             the one that connected it (see Thread safety).
//   Thread safety: none. One client per thread and per process. A client must
//             not be used across fork(): parent and child would interleave
//             requests and replies on one socket. Each process connects its
//             own client after the fork; using an inherited one throws
//             std::logic_error (destroying it in the child is harmless).
//
// Example
//   auto redis = mpkit::RedisClient::connect(server.url());
//   redis.set("flag", "1");
//   auto flag = redis.get("flag");  // std::optional{"1"}

#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// hiredis types, complete only in redis_client.cpp (hiredis is linked PRIVATE).
struct redisContext;
struct redisReply;

namespace mpkit {

/// The server answered a command with an error reply ("-ERR ...").
/// what() = "redis <COMMAND> <key>: <server message>"; the client stays usable.
class RedisError : public std::runtime_error {
 public:
  RedisError(const std::string& what, std::string server_message);
  /// The server's message as sent ("ERR value is not an integer or out of
  /// range").
  [[nodiscard]] const std::string& server_message() const noexcept {
    return server_message_;
  }

 private:
  std::string server_message_;
};

class RedisClient {
 public:
  /// Connects to `url` within `timeout`; every later command has the same
  /// bound.
  static RedisClient connect(
      std::string_view url,
      std::chrono::milliseconds timeout = std::chrono::seconds(2));

  RedisClient(RedisClient&& other) noexcept;
  RedisClient& operator=(RedisClient&& other) noexcept;
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;
  /// Frees the connection. Never throws.
  ~RedisClient();

  /// PING; returns when the server answered PONG.
  void ping();

  /// GET: the value, or nullopt when the key does not exist.
  [[nodiscard]] std::optional<std::string> get(std::string_view key);

  /// SET key value.
  void set(std::string_view key, std::string_view value);

  /// INCR: the value after the increment (atomic on the server).
  long long incr(std::string_view key);

  /// DEL: how many keys were removed (0 or 1).
  long long del(std::string_view key);

  /// LPUSH: the length of the list after the push.
  long long lpush(std::string_view key, std::string_view value);

  /// BRPOP: waits up to `timeout` for an element at the tail of the list
  /// (so lpush + brpop is FIFO). nullopt once the timeout has passed; a zero
  /// timeout polls once (RPOP) instead of Redis's "block forever".
  /// Throws std::invalid_argument for a negative timeout.
  [[nodiscard]] std::optional<std::string> brpop(
      std::string_view key, std::chrono::milliseconds timeout);

  /// LLEN: the length of the list (0 when it does not exist).
  long long llen(std::string_view key);

  /// Any other command, e.g. command({"MSET", "a", "1", "b", "2"}). The reply
  /// is flattened into strings: a string or status is one element, an integer
  /// its decimal text, nil no element, an array its elements in order (nil
  /// elements as "", nested arrays flattened depth-first).
  /// Throws std::invalid_argument for an empty argument list.
  std::vector<std::string> command(
      std::initializer_list<std::string_view> args);
  std::vector<std::string> command(std::span<const std::string_view> args);

  /// The URL as given to connect().
  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  /// The bound on connect and on each command's socket reads and writes.
  [[nodiscard]] std::chrono::milliseconds timeout() const noexcept {
    return timeout_;
  }

 private:
  struct ReplyDeleter {
    void operator()(redisReply* reply) const noexcept;
  };
  using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

  RedisClient(redisContext* context, std::string url,
              std::chrono::milliseconds timeout) noexcept;
  /// One round trip: sends `args`, returns the reply (never null). Throws
  /// system_error on I/O failure, RedisError on an error reply. `server_wait`
  /// is how long the server may legitimately hold the reply (BRPOP): the
  /// socket timeout becomes timeout_ + server_wait for this call.
  Reply call(
      std::span<const std::string_view> args,
      std::chrono::milliseconds server_wait = std::chrono::milliseconds(0));

  redisContext* context_ = nullptr;
  std::string url_;
  std::chrono::milliseconds timeout_{0};
  /// The socket's current SO_RCVTIMEO/SO_SNDTIMEO: brpop raises it to outlast
  /// the server-side wait; the next ordinary command lowers it again.
  std::chrono::milliseconds socket_timeout_{0};
  /// getpid() at connect: the fork guard (see Thread safety).
  int owner_pid_ = 0;
  /// errno of the I/O failure that broke the connection; 0 while healthy.
  int broken_errno_ = 0;
};

}  // namespace mpkit
