#pragma once

// ManagerServer: a server process holding named objects -- bounded queues of
// byte messages, flags, int64 counters -- that clients reach over a Unix
// socket through proxies: Python's multiprocessing.Manager, in C++.
//
// The proxies are ManagerQueue<T> / ManagerByteQueue (manager_queue.hpp) and
// ManagerFlag / ManagerCounter (manager_flag_counter.hpp); the wire format is
// in detail/manager_protocol.hpp. Every proxy call is one request and one
// reply; that round trip is the cost the `manager` backend measures.
//
// Who runs what
//   The constructing process forks the server; the server runs one
//   single-threaded poll() loop over its listening socket and every client
//   connection and never returns into the caller's code: it leaves with
//   _exit (ARCHITECTURE.md rule 4). Blocking pushes and pops are HELD by the server
//   -- no reply until they complete, their deadline passes (kTimedOut) or
//   their queue closes (kClosed) -- so waiting costs no client CPU and no
//   polling. Proxies are made in the owning process and used there and in
//   every child forked afterwards, each process over its own connections.
//
// Lifecycle
//   - A fresh private directory (mkdtemp, mode 0700) holds the socket
//     `manager.sock`; nobody but this user can connect.
//   - The socket is bound and listening before the fork; the child closes
//     every descriptor but it, the ready pipe and stdio, sets up its
//     signals (SIGINT and SIGPIPE ignored: the owner decides when it stops),
//     then writes one byte to the ready pipe. The constructor waits for that
//     byte within start_timeout.
//   - The server gets SIGKILL when the thread that created it dies
//     (PR_SET_PDEATHSIG through Process): no orphan. Linux ties the signal
//     to the creating *thread*: create servers from a long-lived thread.
//   - stop() (and the destructor) sends SIGTERM, waits stop_grace, then
//     SIGKILLs; it always reaps the process and removes the directory. Every
//     client call after that fails with std::system_error (ENOENT: the
//     socket is gone; EPIPE / ECONNRESET on a pooled connection), within
//     its timeout.
//   - Objects live until the server stops: proxies are byte-copied into
//     forked children, so no count of holders can be kept.
//
// Contract
//   Requires: the calling process has no threads of its own (ARCHITECTURE.md rule
//             3): the server is a fork that runs C++ (allocates) without exec.
//             options.start_timeout > 0, stop_grace >= 0,
//             max_frame_bytes >= detail::manager::kMinFrameBytes.
//   Guarantees: the constructor returns only once the server is serving;
//             otherwise it kills and reaps the child, removes the directory
//             and throws. No zombie, no orphan, no leftover directory after
//             stop() (if the owner is SIGKILLed, the server dies with it and
//             the empty directory stays under $TMPDIR or /tmp).
//   Throws:   std::invalid_argument naming the bad option;
//             std::system_error for mkdtemp, socket, bind, listen, pipe,
//             fork; std::runtime_error when the server exits or stays silent
//             during start-up.
//   Thread safety: one owner; stop() and the destructor are not for
//             concurrent use; the accessors are plain reads.
//
// Example
//   mpkit::ManagerServer server;
//   auto jobs = mpkit::ManagerQueue<std::uint64_t>::create(server, "jobs", 1024);
//   auto found = mpkit::ManagerFlag::create(server, "found");
//   mpkit::Process worker([&] {
//     for (std::uint64_t n; jobs.pop(n) == mpkit::QueueStatus::kOk;) {
//       if (is_prime(n)) found.set();
//     }
//   });

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "mpkit/ipc/process.hpp"

namespace mpkit {

struct ManagerServerOptions {
  /// Bound on start-up: from fork until the server says it is ready.
  std::chrono::milliseconds start_timeout{5000};
  /// How long stop() waits after SIGTERM before SIGKILL.
  std::chrono::milliseconds stop_grace{1000};
  /// Largest frame the server reads (header included); a larger request is
  /// answered kTooLarge. Queue messages may be up to this minus 32 bytes.
  std::size_t max_frame_bytes = std::size_t{1} << 20;
};

class ManagerServer {
 public:
  /// Forks the server and waits until it serves (see Guarantees).
  explicit ManagerServer(ManagerServerOptions options = {});

  ManagerServer(ManagerServer&& other) noexcept;
  /// Stops this server first, then takes over `other`'s.
  ManagerServer& operator=(ManagerServer&& other) noexcept;
  ManagerServer(const ManagerServer&) = delete;
  ManagerServer& operator=(const ManagerServer&) = delete;
  /// stop(). Never throws.
  ~ManagerServer();

  /// "/tmp/mpkit-manager.XXXXXX/manager.sock".
  [[nodiscard]] const std::string& socket_path() const noexcept { return socket_path_; }
  /// The private directory holding the socket.
  [[nodiscard]] const std::string& directory() const noexcept { return directory_; }
  /// The server's pid; kept after stop() for diagnostics only.
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] std::size_t max_frame_bytes() const noexcept { return max_frame_bytes_; }
  /// The largest queue message this server carries.
  [[nodiscard]] std::size_t max_message_bytes() const noexcept;
  /// True from a successful start until stop().
  [[nodiscard]] bool running() const noexcept { return process_.has_value(); }

  /// Shuts the server down, reaps it and removes its directory. Idempotent.
  /// In a forked child holding a copy of this object it does nothing (only
  /// the owner stops the server). Never throws.
  void stop() noexcept;

 private:
  std::optional<Process> process_;
  pid_t pid_ = 0;
  pid_t owner_ = 0;
  std::string directory_;
  std::string socket_path_;
  std::size_t max_frame_bytes_ = 0;
  std::chrono::milliseconds stop_grace_{0};
};

namespace detail {

/// The server's side: runs the event loop on `listen_fd` until SIGTERM or
/// SIGKILL. Writes one byte to `ready_fd` (then closes it) once serving.
/// Called in the forked child only; returns only on an unrecoverable error
/// (the caller _exits). manager_loop.cpp.
int run_manager_server(int listen_fd, int ready_fd, std::size_t max_frame_bytes) noexcept;

}  // namespace detail

}  // namespace mpkit
