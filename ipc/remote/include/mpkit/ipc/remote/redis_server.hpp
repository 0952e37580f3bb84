#pragma once

// RedisServer: a private, throw-away redis-server for tests and experiments.
//
// Why: Redis-backed flags, counters and queues must be tested against a real
// server, and an experiment must not share (or flush) a server someone else
// uses. Each RedisServer runs its own redis-server listening only on a Unix
// socket inside a fresh private directory (mkdtemp, mode 0700): no TCP port
// to collide on or expose, nothing written to disk (no RDB, no AOF), and the
// whole directory is removed on stop().
//
// Contract
//   Requires: a redis-server binary: options.executable, else the first on
//             PATH, else /usr/bin/redis-server.
//   Guarantees: the constructor returns only once the server answers PING on
//             socket_path(), within options.start_timeout; otherwise the
//             process is killed and reaped, the directory removed, and the
//             constructor throws. The server gets SIGKILL when the thread
//             that created it dies (PR_SET_PDEATHSIG, set in the child before
//             exec), so a crashed test leaves no redis-server behind; Linux
//             ties that signal to the creating *thread*, so create servers
//             from a long-lived thread. The child inherits no descriptor but
//             stdin (/dev/null) and stdout/stderr (the log file).
//             stop() asks for SHUTDOWN NOSAVE (SIGTERM if no client can
//             connect), waits options.stop_grace, then SIGKILLs; it always
//             reaps the process and removes the directory.
//             If the owner is killed, the server dies but its directory
//             (a few KiB under $TMPDIR or /tmp) stays behind.
//   Throws:   std::system_error: no executable ("RedisServer: redis-server
//             not found on PATH nor at /usr/bin/redis-server"), mkdtemp,
//             fork, writing the config. std::runtime_error: the server exited
//             or did not answer PING in time; what() names the binary and ends
//             with the tail of its log.
//   Thread safety: one owner; stop() and the destructor are not for
//             concurrent use. pid()/url()/socket_path() are plain reads.
//
// Example
//   mpkit::RedisServer server;  // private; Unix socket only
//   auto redis = mpkit::RedisClient::connect(server.url());
//   redis.incr("hits");         // ~RedisServer: shut down, directory removed

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "mpkit/ipc/process.hpp"

namespace mpkit {

struct RedisServerOptions {
  /// Path of redis-server; empty: search PATH, then /usr/bin/redis-server.
  std::string executable;
  /// Bound on start-up: from fork until PING answers.
  std::chrono::milliseconds start_timeout{5000};
  /// How long stop() waits for a clean exit before SIGKILL.
  std::chrono::milliseconds stop_grace{2000};
  /// Extra redis.conf lines ("maxmemory 64mb"), written after mpkit's own.
  std::vector<std::string> extra_config;
};

class RedisServer {
 public:
  /// Starts the server and waits until it answers PING (see Guarantees).
  explicit RedisServer(RedisServerOptions options = {});

  RedisServer(RedisServer&& other) noexcept;
  /// Stops this server first, then takes over `other`'s.
  RedisServer& operator=(RedisServer&& other) noexcept;
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  /// stop(). Never throws.
  ~RedisServer();

  /// "unix:///tmp/mpkit-redis.XXXXXX/redis.sock", for RedisClient::connect.
  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] const std::string& socket_path() const noexcept {
    return socket_path_;
  }
  /// The private directory holding redis.conf, redis.log and redis.sock.
  [[nodiscard]] const std::string& directory() const noexcept {
    return directory_;
  }
  /// The server's pid. Kept after stop() for diagnostics only: the process has
  /// been reaped by then and the number may already name another process.
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// True from a successful start until stop().
  [[nodiscard]] bool running() const noexcept { return process_.has_value(); }

  /// Shuts the server down, reaps it and removes its directory. Idempotent;
  /// best effort (failures to remove files are ignored). Never throws.
  void stop() noexcept;

 private:
  std::optional<Process> process_;
  pid_t pid_ = 0;
  std::string directory_;
  std::string socket_path_;
  std::string url_;
  std::chrono::milliseconds stop_grace_{0};
};

}  // namespace mpkit
