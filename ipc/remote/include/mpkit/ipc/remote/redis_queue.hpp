#pragma once

// RedisQueue<T>: a bounded queue of trivially copyable T kept in a Redis list
// on a real redis-server -- the `redis` backend of the transport experiment, the
// slow reference every shared-memory queue is compared against. Every
// operation is at least one round trip to the server; that cost is what the
// experiments measure.
//
// Who may call what
//   The handle is made in one process (create()) and used by that process and
//   by every child it forks afterwards; any number of threads of any of them
//   may push, pop, close and observe, concurrently. Processes that did not
//   fork from the creator may open the same queue with attach() (same url,
//   name and capacity); create() resets it, attach() does not.
//
// Protocol
//   - Keys: `<name>:items`, a list holding each item as a binary string of
//     exactly sizeof(T) bytes, and `<name>:closed`, which exists once the
//     queue is closed. create() deletes both (a leftover of an earlier run
//     must neither hold items nor read as closed).
//   - Connections: one RedisClient per concurrent caller, from a small pool
//     per PROCESS: a call takes an idle client (or connects one), uses it for
//     the whole operation and puts it back. A blocking pop occupies its
//     client while the server holds the BRPOP, so the other threads of the
//     process must not wait for it: hence a pool, not one client under a
//     lock. A forked child finds the pool stamped with its parent's pid and
//     drops the inherited clients unused -- parent and child must never
//     interleave requests on one socket -- then connects its own. The pool's
//     std::mutex is held only to take or return a client; fork only while no
//     thread is inside a call (ARCHITECTURE.md rule 3), or the child inherits it
//     locked. A client that saw an I/O error or a timeout is dropped; the
//     next call connects afresh.
//   - push = EVALSHA of a Lua script (server-side and atomic, so the check
//     and the push are one step for every client of every process):
//       if EXISTS closed -> kClosed; if LLEN items >= capacity -> kFull;
//       else LPUSH items value -> kOk.
//     Redis lists are unbounded; this script is what makes the capacity
//     exact across processes. A push that finds the queue full re-runs it
//     after a pause that doubles from kPollMin to kPollMax (Redis has no way
//     to block until a list gets shorter), never sleeping past its deadline.
//   - pop = BRPOP items with a timeout slice (items leave at the tail, so
//     LPUSH + BRPOP is FIFO). While the queue is open and holds items this is
//     one round trip. A slice that ends empty runs the pop script (RPOP, or
//     kClosed if the closed key exists, or kEmpty), which is also try_pop.
//   - close() = a script: if not closed, SET closed and LPUSH one sentinel,
//     the empty string (no item has length 0), onto the items list. Items
//     pushed before close() sit nearer the tail, so pops drain them first;
//     pushes after it are refused by the same server-side check, so nothing
//     can follow the sentinel. A consumer whose BRPOP returns the sentinel
//     pushes it back at once and reports kClosed; the next blocked consumer
//     (any process) is then served it, so N blocked consumers wake within N
//     round trips -- close() needs to know nothing about who waits. The pop
//     script puts a sentinel it pops back in the same atomic step. Why not a
//     separate wake-up list: BRPOP on two keys removes the one token from
//     both, and a second token per waiter needs a count of waiters nobody
//     has. If a process dies holding the sentinel (between its BRPOP and the
//     push-back), the others still see the closed key when their slice ends.
//   - Bounded waits. The server resolves BRPOP timeouts only on its timer
//     tick (1000/hz ms: 100 ms at Redis's default hz 10, measured), so a
//     BRPOP may return up to one tick late. create() reads hz (CONFIG GET
//     hz; 100 ms if CONFIG is refused) and a pop with a deadline uses BRPOP
//     only while more than one tick remains, with a timeout that ends a tick
//     early; the last tick is polled with the pop script, backing off as
//     push does. A pop without a deadline uses slices of kPopSlice.
//     The client's socket timeout during a BRPOP is `timeout` plus the BRPOP
//     timeout, and `timeout` must exceed the tick, so a late but healthy
//     server is never mistaken for a dead one.
//   - size_guess() = LLEN minus the sentinel if present (one script);
//     is_closed() = EXISTS closed. Both are round trips.
//
// What a SIGKILL does
//   - Of a user: nothing to the others, and nothing is corrupted (every
//     step is one atomic server command). A command the dead process sent
//     either ran or did not: a popped item in flight to it is lost, a push
//     it sent may have landed. Redis cannot tell which process holds which
//     connection's role, so a dead peer is NOT detected: survivors blocked
//     on a full or empty queue keep waiting (use push_until/pop_until);
//     kDetectsPeerDeath is false in the conformance suite.
//   - Of the server: every call in flight or later throws std::system_error
//     (ECONNRESET at once if the socket closes, ENOENT/ECONNREFUSED on
//     reconnect, ETIMEDOUT after `timeout` plus at most one slice if it
//     hangs); a blocked pop never outlives the server by more than that.
//
// Memory ordering: the server executes commands one at a time, so each
// operation is linearizable; the bytes a producer pushed are the bytes the
// consumer receives, and everything the producer did before push returned
// kOk happened before that pop returned -- as strong as seq_cst, at a round
// trip per call. There is no shared memory: the pool lives in each process.
//
// Contract
//   Requires: a reachable Redis >= 6.0 (fractional BRPOP timeouts; Debian
//             12 ships 7.0) at `url` in RedisClient's URL forms; a non-empty
//             name; capacity in [1, kMaxCapacity]; timeout > 0, and greater
//             than the server's tick (checked once connected).
//   Guarantees: FIFO per producer as seen by each consumer; exactly-once
//             while nobody is killed; the capacity is never exceeded;
//             push_until/pop_until return at most one round trip after the
//             deadline (one tick if the server's hz dropped since create),
//             never before it; close() is seen by every blocked caller within
//             a round trip per blocked pop (at most kPopSlice plus a tick if
//             the sentinel was lost) or kPollMax for a blocked push.
//   Throws:   create()/attach(): std::invalid_argument naming `url`, `name`,
//             `capacity` or `timeout`; std::system_error when the server is
//             unreachable (within `timeout`). Any operation, close(),
//             is_closed() and size_guess() included: std::system_error (errno,
//             what() naming the queue, the URL and the command) for a dead,
//             hung or unreachable server; std::system_error(EBADMSG) for a
//             list element that is not sizeof(T) bytes (someone else wrote
//             the key); mpkit::RedisError for an error reply (e.g. the key
//             holds a non-list).
//   Thread safety: any thread of any process forked from the creator (or
//             that attached), concurrently.
//
// Example
//   mpkit::RedisServer server;
//   auto q = mpkit::RedisQueue<std::uint64_t>::create(server.url(), "jobs", 1024);
//   mpkit::Process child([&] { std::uint64_t v; while (q.pop(v) == mpkit::QueueStatus::kOk) use(v); });
//   for (std::uint64_t i = 0; i < n; ++i) (void)q.push(i);  q.close();

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "mpkit/ipc/queue.hpp"

namespace mpkit {
namespace detail {

/// The untyped list behind RedisQueue<T>: items of a fixed byte size. The
/// round trips live in ipc/remote/src/redis_queue.cpp.
class RedisList {
 public:
  /// Longest BRPOP of a pop without a deadline (see the protocol).
  static constexpr std::chrono::milliseconds kPopSlice{100};
  /// The pause of a waiting push (and of a pop's last tick) starts here and
  /// doubles up to kPollMax.
  static constexpr std::chrono::microseconds kPollMin{100};
  static constexpr std::chrono::milliseconds kPollMax{5};
  /// Redis lists hold at most 2^32 - 1 elements; one is the close sentinel.
  static constexpr std::size_t kMaxCapacity = 0xFFFF'FFFEU;

  /// Validates, connects, loads the scripts; `reset` deletes the keys.
  RedisList(const char* type, std::string_view url, std::string_view name, std::size_t capacity,
            std::size_t item_size, std::chrono::milliseconds timeout, bool reset);
  RedisList(RedisList&& other) noexcept;
  RedisList& operator=(RedisList&& other) noexcept;
  RedisList(const RedisList&) = delete;
  RedisList& operator=(const RedisList&) = delete;
  ~RedisList();

  /// try_only: one attempt. deadline nullopt: no deadline.
  QueueStatus push(const void* item, std::optional<Deadline> deadline, bool try_only);
  QueueStatus pop(void* item, std::optional<Deadline> deadline, bool try_only);
  void close();
  [[nodiscard]] bool is_closed() const;
  [[nodiscard]] std::size_t size_guess() const;
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] const std::string& url() const noexcept;
  [[nodiscard]] const std::string& name() const noexcept;
  /// The server's timer tick as read at creation (see the protocol).
  [[nodiscard]] std::chrono::milliseconds server_tick() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::size_t capacity_ = 0;
};

}  // namespace detail

template <class T>
class RedisQueue {
  static_assert(std::is_trivially_copyable_v<T>, "items travel as their bytes");
  static_assert(sizeof(T) > 0, "an item of zero bytes would look like the close sentinel");

 public:
  using value_type = T;

  static constexpr std::chrono::milliseconds kPopSlice = detail::RedisList::kPopSlice;
  static constexpr std::chrono::milliseconds kPollMax = detail::RedisList::kPollMax;
  static constexpr std::size_t kMaxCapacity = detail::RedisList::kMaxCapacity;

  /// An empty, open queue `name` for exactly `capacity` items on the server
  /// at `url` (leftover keys of that name are deleted). Connects once here.
  [[nodiscard]] static RedisQueue create(std::string_view url, std::string_view name, std::size_t capacity,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    return RedisQueue(url, name, capacity, timeout, true);
  }

  /// The queue `name` as another, unrelated process created it: nothing is
  /// reset. `capacity` must be the creator's (the server does not store it).
  [[nodiscard]] static RedisQueue attach(std::string_view url, std::string_view name, std::size_t capacity,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    return RedisQueue(url, name, capacity, timeout, false);
  }

  RedisQueue(RedisQueue&&) noexcept = default;
  RedisQueue& operator=(RedisQueue&&) noexcept = default;
  RedisQueue(const RedisQueue&) = delete;
  RedisQueue& operator=(const RedisQueue&) = delete;
  /// Closes this process's connections; the keys stay on the server.
  ~RedisQueue() = default;

  /// kOk, kFull or kClosed: one round trip.
  [[nodiscard]] QueueStatus try_push(const T& value) { return list_.push(&value, std::nullopt, true); }
  /// Waits while full (polling, see kPollMax): kOk or kClosed.
  [[nodiscard]] QueueStatus push(const T& value) { return list_.push(&value, std::nullopt, false); }
  [[nodiscard]] QueueStatus push_until(const T& value, Deadline deadline) {
    return list_.push(&value, deadline, false);
  }

  /// kOk, kEmpty or kClosed: one round trip.
  [[nodiscard]] QueueStatus try_pop(T& out) { return list_.pop(&out, std::nullopt, true); }
  /// Blocks in BRPOP while empty: kOk, or kClosed once closed and drained.
  [[nodiscard]] QueueStatus pop(T& out) { return list_.pop(&out, std::nullopt, false); }
  [[nodiscard]] QueueStatus pop_until(T& out, Deadline deadline) { return list_.pop(&out, deadline, false); }

  /// Later pushes fail; pops drain, then report kClosed; every blocked caller
  /// in every process wakes. Idempotent. A round trip: throws on a dead server.
  void close() { list_.close(); }
  /// EXISTS <name>:closed (a round trip).
  [[nodiscard]] bool is_closed() const { return list_.is_closed(); }
  /// Items in the list now (a round trip; stale once it returns).
  [[nodiscard]] std::size_t size_guess() const { return list_.size_guess(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return list_.capacity(); }

  [[nodiscard]] const std::string& url() const noexcept { return list_.url(); }
  [[nodiscard]] const std::string& name() const noexcept { return list_.name(); }
  [[nodiscard]] std::chrono::milliseconds server_tick() const noexcept { return list_.server_tick(); }

 private:
  RedisQueue(std::string_view url, std::string_view name, std::size_t capacity, std::chrono::milliseconds timeout,
             bool reset)
      : list_("RedisQueue", url, name, capacity, sizeof(T), timeout, reset) {}

  detail::RedisList list_;
};

static_assert(Queue<RedisQueue<std::uint64_t>, std::uint64_t>);

}  // namespace mpkit
