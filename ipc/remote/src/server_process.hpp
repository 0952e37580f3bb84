#pragma once

// What the Manager server and the private redis-server share: a server is a
// child process of its owner with a private directory (mode 0700, created by
// mkdtemp) holding its Unix socket. Both start it, wait until it answers, and
// stop it the same way: ask (or SIGTERM), wait a grace period, SIGKILL, reap,
// remove the directory. Internal to mpkit::ipc_remote.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "mpkit/ipc/process.hpp"

namespace mpkit::detail {

/// Owns one file descriptor; closes it once (Linux closes even on EINTR, so
/// close is never retried).
class FileDescriptor {
 public:
  FileDescriptor() noexcept = default;
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

/// mkdtemp of `name_template` ("/mpkit-redis.XXXXXX") under $TMPDIR, or /tmp
/// when $TMPDIR is unset, relative, or so long that the directory plus
/// `socket_name` would not fit in sockaddr_un::sun_path. The directory is
/// 0700: only the owner's user can reach the socket.
/// Throws: std::system_error "<who>: mkdtemp <pattern>".
std::string make_private_directory(std::string_view who, std::string_view name_template,
                                   std::string_view socket_name);

/// "was killed by signal 9", "exited with code 3", "could not be executed
/// (exit code 127)", from Process::exitcode() (negative = signal).
std::string describe_exit(int exitcode);

/// SIGKILL and reap: for a child that never became a usable server.
void kill_and_reap(Process& process) noexcept;

/// Stops a running server: SIGTERM unless the caller has already asked it to
/// exit (`already_asked`), then up to `grace` for it to go, then SIGKILL;
/// reaps it, empties `process` and removes `directory`. Never throws.
void stop_server(std::optional<Process>& process, std::chrono::milliseconds grace,
                 bool already_asked, const std::string& directory) noexcept;

/// A start that failed: kills and reaps the child if there is one, empties
/// `process` and removes `directory`. Never throws.
void abandon_start(std::optional<Process>& process, const std::string& directory) noexcept;

}  // namespace mpkit::detail
