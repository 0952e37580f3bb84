#pragma once

// ManagerObject: the client side every Manager proxy is built on -- one
// object on one ManagerServer, and the connections this process uses to
// reach it. manager_client.cpp.
//
// Who may call what
//   The owner makes it (the constructor connects and creates the object on
//   the server); the owner and every process forked afterwards call call(),
//   from any number of threads.
//
// Protocol
//   - Connections are per PROCESS and pooled: a call takes an idle
//     connection of this process (or connects a new one), sends one request,
//     reads its reply, and gives the connection back. Threads therefore
//     never wait for each other's round trips -- a thread whose pop the
//     server holds occupies one connection while another thread closes the
//     queue over a second one. The pool mutex is held only to take or give
//     back a descriptor.
//   - The pool remembers which pid filled it. A forked child finds the
//     parent's pid there on its first call and closes its inherited copies
//     unused -- parent and child never interleave frames on one socket --
//     then connects its own. (A child holds those copies until that first
//     call; they only keep the parent's connections open, never used.)
//   - Every wait is bounded: connect and send by `timeout`, the reply by the
//     request's own deadline (the server answers kTimedOut then) plus
//     `timeout`. A dead server closes the socket (EOF / ECONNRESET at once);
//     a stuck one is ETIMEDOUT. After any I/O failure the connection is
//     closed, not pooled, and the call throws std::system_error naming the
//     proxy, the object, the socket and the operation; a reply that arrives
//     later is lost with that connection.
//   - Fork only while no thread of this process is inside a call (ARCHITECTURE.md
//     rule 3): a child would inherit a held mutex or a connection in use.
//
// Memory ordering: the server applies requests one at a time (its single
// thread), so each call is linearizable between sending its request and
// reading its reply; nothing else is shared.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "mpkit/ipc/remote/detail/manager_protocol.hpp"

namespace mpkit::detail {

struct ManagerReply {
  manager::Status status = manager::Status::kOk;
  std::int64_t value = 0;
  std::size_t payload_bytes = 0;  // bytes written into the reply buffer
};

class ManagerObject {
 public:
  /// Connects from this process and sends `first_op` (a create, or
  /// attach) for `name`; the reply's payload, which must fill it, goes to
  /// `first_reply`. `who` names the proxy class in messages ("ManagerQueue").
  /// Throws: std::invalid_argument (empty or too long name, timeout <= 0,
  /// or the server's own kInvalidArgument); std::system_error (connect,
  /// EEXIST for a taken name, ENOENT for a missing one, EPROTOTYPE for a
  /// name of another kind, I/O).
  ManagerObject(std::string who, std::string socket_path, std::string_view name,
                manager::Op first_op, std::int64_t argument, std::uint32_t aux,
                std::chrono::milliseconds timeout, std::span<std::byte> first_reply = {});
  ManagerObject(ManagerObject&&) noexcept;
  ManagerObject& operator=(ManagerObject&&) noexcept;
  ManagerObject(const ManagerObject&) = delete;
  ManagerObject& operator=(const ManagerObject&) = delete;
  /// Closes this process's idle connections. Never throws.
  ~ManagerObject();

  /// One round trip. `deadline_ns`: manager::kTryOnly or a steady_clock
  /// deadline in ns. `payload` is sent after the header; the reply's payload
  /// goes to `reply_payload` (more than fits is EBADMSG); `aux` fills the
  /// header's aux field. Returns any status; throws std::system_error on
  /// I/O failure only.
  ManagerReply call(manager::Op op, std::int64_t argument, std::int64_t deadline_ns,
                    std::span<const std::byte> payload = {},
                    std::span<std::byte> reply_payload = {}, std::uint32_t aux = 0) const;

  /// Throws for a status the caller did not expect: system_error with the
  /// errno that fits (EEXIST, ENOENT, EMSGSIZE, EBADMSG, EOPNOTSUPP, ...).
  [[noreturn]] void fail(std::string_view operation, manager::Status status) const;
  /// Throws std::system_error(code) naming the proxy and `what`.
  [[noreturn]] void fail_with(int code, std::string_view what) const;

  [[nodiscard]] const std::string& name() const noexcept;
  [[nodiscard]] const std::string& socket_path() const noexcept;
  [[nodiscard]] std::chrono::milliseconds timeout() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mpkit::detail
