#pragma once

// RedisFlag, RedisCounter: a key on a real Redis server -- the `redis`
// strategy of EXPERIMENTS.md §1 (GET per poll, SET to signal) and the
// `redis` counter of §5 (INCR). Every call is one network round trip; that
// cost is what the experiments measure.
//
// Who may call what
//   The handle is made in the parent (create()) and used by the parent and
//   by every child it forks afterwards; the threads of one process may share
//   one handle.
//
// Protocol
//   - The handle stores the server URL, the key and the timeout, plus one
//     RedisClient per PROCESS, connected lazily: on each call, if no client
//     exists or the one that exists was connected by another pid
//     (current_pid() differs: we are a forked child holding the parent's
//     copy), the inherited client is dropped unused -- parent and child must
//     never interleave requests on one socket -- and a new one connects.
//   - Threads of one process take turns on that client under a process-local
//     std::mutex held for the round trip (~20-50 µs; the lock costs ~20 ns).
//     Hence ARCHITECTURE.md rule 3 matters here too: fork only while no thread is
//     inside a call, or the child inherits a held mutex.
//   - RedisFlag: set() = SET key "1", clear() = SET key "0", is_set() = GET
//     key, true when the key exists and is not "0".
//   - RedisCounter: add(n) = INCRBY key n, increment() = INCR key (atomic on
//     the server: exact), get() = GET key (missing: 0).
//   - create() connects once in the calling process and resets the key (SET
//     "0"), so a key left by an earlier run never reads as set or non-zero,
//     and a bad URL or unreachable server fails at once.
//   - After an I/O error or a timeout the client is dropped; the next call
//     connects afresh.
//
// What a SIGKILL of a user does: nothing to others -- the server keeps the
// key; a request the dead process sent may or may not have been applied.
// A SIGKILL of the SERVER makes every later call throw within the timeout.
//
// Memory ordering: the server executes commands one at a time, so each call
// is linearizable: a GET that follows (in real time) a SET's reply sees it,
// and everything a setter did before set() returned happened before any GET
// that returns "1" -- as strong as seq_cst, at a round trip per call.
//
// Contract
//   Requires: a reachable server at `url` (RedisClient's URL forms); a
//             non-empty key; timeout > 0.
//   Guarantees: every call returns or throws within the timeout (connect
//             plus the command: 2 x timeout at most).
//   Throws:   create(): std::invalid_argument naming `key`, `url` or
//             `timeout`. Any call (create included): std::system_error
//             (errno, e.g. ETIMEDOUT, ECONNREFUSED, ENOENT) whose what()
//             names the class and the key; mpkit::RedisError when the server
//             answers with an error (e.g. the key holds a non-integer);
//             std::system_error(EBADMSG) when GET returns a non-integer for
//             a counter.
//   Thread safety: any thread of any process; calls from threads of one
//             process are serialised.
//
// Example
//   mpkit::RedisServer server;
//   auto found = mpkit::RedisFlag::create(server.url(), "primes:found");
//   mpkit::Process w([&] { if (!found.is_set()) found.set(); });   // connects in the child

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "mpkit/ipc/counter.hpp"
#include "mpkit/ipc/flag.hpp"

namespace mpkit {
namespace detail {

/// One key on one server, with a lazily connected client per process.
class RedisKey {
 public:
  /// Validates the arguments (`who` names the class in messages), connects
  /// and SETs the key to "0".
  RedisKey(std::string who, std::string_view url, std::string_view key,
           std::chrono::milliseconds timeout);
  RedisKey(RedisKey&&) noexcept;
  RedisKey& operator=(RedisKey&&) noexcept;
  RedisKey(const RedisKey&) = delete;
  RedisKey& operator=(const RedisKey&) = delete;
  ~RedisKey();

  [[nodiscard]] std::optional<std::string> get();
  void set(std::string_view value);
  std::int64_t incr_by(std::int64_t n);

  [[nodiscard]] const std::string& url() const noexcept;
  [[nodiscard]] const std::string& key() const noexcept;

  /// A whole decimal int64 (Redis's integer replies); false otherwise.
  [[nodiscard]] static bool parse(std::string_view text, std::int64_t& value) noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace detail

class RedisFlag {
 public:
  /// A clear flag at `key` on the server at `url` (the key is reset to "0").
  [[nodiscard]] static RedisFlag create(
      std::string_view url, std::string_view key,
      std::chrono::milliseconds timeout = std::chrono::seconds(2));

  /// SET key "1".
  void set();
  /// SET key "0".
  void clear();
  /// GET key: true when it exists and is not "0".
  [[nodiscard]] bool is_set();

  [[nodiscard]] const std::string& url() const noexcept { return key_.url(); }
  [[nodiscard]] const std::string& key() const noexcept { return key_.key(); }

 private:
  explicit RedisFlag(detail::RedisKey key) noexcept : key_(std::move(key)) {}
  detail::RedisKey key_;
};

class RedisCounter {
 public:
  /// A counter at 0 at `key` on the server at `url` (the key is reset to "0").
  [[nodiscard]] static RedisCounter create(
      std::string_view url, std::string_view key,
      std::chrono::milliseconds timeout = std::chrono::seconds(2));

  /// INCR key.
  std::int64_t increment() { return key_.incr_by(1); }
  /// INCRBY key n.
  std::int64_t add(std::int64_t n) { return key_.incr_by(n); }
  /// GET key (0 when missing).
  [[nodiscard]] std::int64_t get();

  [[nodiscard]] const std::string& url() const noexcept { return key_.url(); }
  [[nodiscard]] const std::string& key() const noexcept { return key_.key(); }

 private:
  explicit RedisCounter(detail::RedisKey key) noexcept : key_(std::move(key)) {}
  detail::RedisKey key_;
};

static_assert(Flag<RedisFlag>);
static_assert(Counter<RedisCounter> && !loses_updates_v<RedisCounter>);

}  // namespace mpkit
