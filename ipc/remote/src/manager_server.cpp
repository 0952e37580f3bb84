// ManagerServer: the private directory, the socket, the fork, the ready
// handshake, and stop(). The lifecycle is in manager.hpp; the event loop the
// child runs is in manager_loop.cpp.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

#include "mpkit/ipc/remote/detail/manager_protocol.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/remote/manager.hpp"
#include "mpkit/ipc/this_process.hpp"
#include "server_process.hpp"

namespace mpkit {
namespace {

using detail::FileDescriptor;

using std::chrono::milliseconds;

constexpr std::string_view kDirectoryTemplate = "/mpkit-manager.XXXXXX";
constexpr std::string_view kSocketName = "/manager.sock";
// Connections the kernel queues before the server accepts them.
constexpr int kListenBacklog = 128;

int listen_on(const std::string& path) {
  FileDescriptor fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno("ManagerServer: socket(AF_UNIX)");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(),
              path.size() + 1);  // fits: checked by make_private_directory
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw_errno("ManagerServer: bind " + path);
  }
  if (::listen(fd.get(), kListenBacklog) != 0) throw_errno("ManagerServer: listen " + path);
  return fd.release();
}

// Closes every descriptor >= 3 except `a` and `b`: the server must not hold
// the owner's other sockets (a copy would keep a peer's connection to some
// other server alive after that peer died).
void close_all_but(int a, int b) noexcept {
  const unsigned lo = static_cast<unsigned>(std::min(a, b));
  const unsigned hi = static_cast<unsigned>(std::max(a, b));
  if (lo > 3) ::close_range(3, lo - 1, 0);
  if (hi > lo + 1) ::close_range(lo + 1, hi - 1, 0);
  ::close_range(hi + 1, ~0U, 0);
}

// Waits for the ready byte: true once read; false at the deadline; throws
// runtime_error when the child closed the pipe without it (it died).
bool wait_ready(int fd, milliseconds timeout, Process& process, pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= milliseconds::zero()) return false;
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<milliseconds::rep>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) throw_errno("ManagerServer: poll on the ready pipe");
    if (n <= 0) continue;
    char byte = 0;
    const ssize_t got = ::read(fd, &byte, 1);
    if (got == 1 && byte == detail::manager::kReadyByte) return true;
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    (void)process.join(std::chrono::seconds(1));
    const int code = process.exitcode().value_or(-SIGKILL);
    throw std::runtime_error("ManagerServer: the server (pid " + std::to_string(pid) + ") " +
                             detail::describe_exit(code) + " before it was ready");
  }
}

}  // namespace

ManagerServer::ManagerServer(ManagerServerOptions options)
    : owner_(current_pid()),
      max_frame_bytes_(options.max_frame_bytes),
      stop_grace_(options.stop_grace) {
  if (options.start_timeout <= milliseconds::zero()) {
    throw_invalid_argument("ManagerServer: start_timeout must be > 0 ms (got " +
                           std::to_string(options.start_timeout.count()) + ")");
  }
  if (options.stop_grace < milliseconds::zero()) {
    throw_invalid_argument("ManagerServer: stop_grace must be >= 0 ms (got " +
                           std::to_string(options.stop_grace.count()) + ")");
  }
  if (options.max_frame_bytes < detail::manager::kMinFrameBytes ||
      options.max_frame_bytes > std::size_t{1} << 30) {
    throw_invalid_argument("ManagerServer: max_frame_bytes must be in [" +
                           std::to_string(detail::manager::kMinFrameBytes) + ", 2^30] (got " +
                           std::to_string(options.max_frame_bytes) + ")");
  }
  directory_ = detail::make_private_directory("ManagerServer", kDirectoryTemplate, kSocketName);
  socket_path_ = directory_ + std::string(kSocketName);
  try {
    FileDescriptor listener(listen_on(socket_path_));
    int ready[2] = {-1, -1};
    if (::pipe2(ready, O_CLOEXEC) != 0) throw_errno("ManagerServer: pipe2");
    FileDescriptor ready_read(ready[0]);
    FileDescriptor ready_write(ready[1]);
    const std::size_t max_frame = max_frame_bytes_;
    // kill_with_parent (Process's default): PR_SET_PDEATHSIG(SIGKILL).
    process_.emplace([listen_fd = listener.get(), read_fd = ready_read.get(),
                      write_fd = ready_write.get(), max_frame]() -> int {
      ::close(read_fd);
      close_all_but(listen_fd, write_fd);
      ::_exit(detail::run_manager_server(listen_fd, write_fd, max_frame));  // never unwinds
    });
    pid_ = process_->pid();
    listener.reset();  // only the server accepts: no later child inherits the socket
    ready_write.reset();
    if (!wait_ready(ready_read.get(), options.start_timeout, *process_, pid_)) {
      throw std::runtime_error("ManagerServer: the server (pid " + std::to_string(pid_) +
                               ") was not ready within " +
                               std::to_string(options.start_timeout.count()) + " ms; killed it");
    }
  } catch (...) {
    detail::abandon_start(process_, directory_);
    throw;
  }
}

ManagerServer::ManagerServer(ManagerServer&& other) noexcept
    : process_(std::exchange(other.process_, std::nullopt)),
      pid_(other.pid_),
      owner_(other.owner_),
      directory_(std::move(other.directory_)),
      socket_path_(std::move(other.socket_path_)),
      max_frame_bytes_(other.max_frame_bytes_),
      stop_grace_(other.stop_grace_) {}

ManagerServer& ManagerServer::operator=(ManagerServer&& other) noexcept {
  if (this != &other) {
    stop();
    process_ = std::exchange(other.process_, std::nullopt);
    pid_ = other.pid_;
    owner_ = other.owner_;
    directory_ = std::move(other.directory_);
    socket_path_ = std::move(other.socket_path_);
    max_frame_bytes_ = other.max_frame_bytes_;
    stop_grace_ = other.stop_grace_;
  }
  return *this;
}

ManagerServer::~ManagerServer() { stop(); }

std::size_t ManagerServer::max_message_bytes() const noexcept {
  return detail::manager::max_message_bytes(max_frame_bytes_);
}

void ManagerServer::stop() noexcept {
  if (!process_) return;
  if (current_pid() != owner_) {
    // A forked child's copy: the server is the owner's to stop. Forget it
    // without touching the process: Process's destructor would SIGKILL it,
    // so the handle is moved into storage that is never destroyed.
    alignas(Process) static unsigned char forgotten[sizeof(Process)];
    new (forgotten) Process(std::move(*process_));
    process_.reset();  // moved-from: owns no pid, kills nothing
    return;
  }
  detail::stop_server(process_, stop_grace_, /*already_asked=*/false, directory_);
}

}  // namespace mpkit
