#pragma once

// ManagerFlag, ManagerCounter: a flag and an int64 counter held by a
// ManagerServer (manager.hpp) -- Python's `manager.Value`, the `manager`
// strategy of EXPERIMENTS.md §1 and §5. Every call is one round trip over a
// Unix socket to the server process; that cost is what the experiments
// measure.
//
// Who may call what
//   The handle is made in the owner (create()) and used by the owner and by
//   every child it forks afterwards; threads of one process may share one
//   handle (each call takes a pooled connection of its process, see
//   detail/manager_client.hpp: a forked child never uses its parent's
//   socket, threads do not serialise on one round trip).
//
// Protocol
//   - ManagerFlag: set() / clear() store 1 / 0 on the server; is_set()
//     reads it. A new flag is clear.
//   - ManagerCounter: add(n) adds on the server -- one request, applied
//     atomically by its single thread, so the counter is exact -- and
//     returns the value right after this add; get() reads it. Overflow past
//     INT64_MAX wraps (two's complement, as the shared-memory counters do).
//   - create() connects once in the calling process, so a stopped server
//     fails there and then.
//
// What a SIGKILL does: of a user, nothing to others (a request in flight may
// or may not have been applied); of the server, every later call throws
// std::system_error within the timeout.
//
// Memory ordering: each call is linearizable (the server applies requests
// one at a time): a get() that starts after an add() returned sees it, and
// everything a setter did before set() returned happened before any
// is_set() that returns true -- as strong as seq_cst, at a round trip per call.
//
// Contract
//   Requires: a running server; a name not used on it yet; timeout > 0.
//   Guarantees: every call returns or throws within 2 x timeout.
//   Throws: create(): std::invalid_argument naming `name`, `timeout` or
//     `server`; std::system_error (EEXIST for a taken name, connect
//     failures). attach(): std::system_error ENOENT (no such name),
//     EPROTOTYPE (a name of another kind), connect failures. Every call: std::system_error naming
//     the class, the name and the socket when the server cannot be reached or answers nothing.
//   Thread safety: any thread of any process forked after create().
//
// Example
//   mpkit::ManagerServer server;
//   auto hits = mpkit::ManagerCounter::create(server, "hits");
//   { mpkit::Process w([&] { for (int i = 0; i < 1000; ++i) hits.increment(); }); (void)w.join(); }
//   assert(hits.get() == 1000);

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "mpkit/ipc/counter.hpp"
#include "mpkit/ipc/remote/detail/manager_client.hpp"
#include "mpkit/ipc/flag.hpp"
#include "mpkit/ipc/remote/manager.hpp"

namespace mpkit {

class ManagerFlag {
 public:
  /// A clear flag `name` on `server`.
  [[nodiscard]] static ManagerFlag create(
      const ManagerServer& server, std::string_view name,
      std::chrono::milliseconds timeout = std::chrono::seconds(2));
  /// The existing flag `name` on the server at `socket_path`, from a
  /// process that did not inherit a proxy.
  [[nodiscard]] static ManagerFlag attach(
      const std::string& socket_path, std::string_view name,
      std::chrono::milliseconds timeout = std::chrono::seconds(2));

  void set();
  void clear();
  [[nodiscard]] bool is_set();

  [[nodiscard]] const std::string& name() const noexcept { return object_.name(); }

 private:
  explicit ManagerFlag(detail::ManagerObject object) noexcept : object_(std::move(object)) {}
  void store(bool value);

  detail::ManagerObject object_;
};

class ManagerCounter {
 public:
  /// A counter `name` at 0 on `server`.
  [[nodiscard]] static ManagerCounter create(
      const ManagerServer& server, std::string_view name,
      std::chrono::milliseconds timeout = std::chrono::seconds(2));
  /// The existing counter `name` on the server at `socket_path`.
  [[nodiscard]] static ManagerCounter attach(
      const std::string& socket_path, std::string_view name,
      std::chrono::milliseconds timeout = std::chrono::seconds(2));

  std::int64_t increment() { return add(1); }
  std::int64_t add(std::int64_t n);
  [[nodiscard]] std::int64_t get();

  [[nodiscard]] const std::string& name() const noexcept { return object_.name(); }

 private:
  explicit ManagerCounter(detail::ManagerObject object) noexcept : object_(std::move(object)) {}

  detail::ManagerObject object_;
};

static_assert(Flag<ManagerFlag>);
static_assert(Counter<ManagerCounter> && !loses_updates_v<ManagerCounter>);

}  // namespace mpkit
