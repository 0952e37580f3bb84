#include "mpkit/ipc/remote/redis_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/remote/redis_client.hpp"
#include "server_process.hpp"

namespace mpkit {
namespace {

using detail::FileDescriptor;

using std::chrono::milliseconds;

constexpr std::string_view kDefaultExecutable = "/usr/bin/redis-server";
constexpr std::string_view kDirectoryTemplate = "/mpkit-redis.XXXXXX";
constexpr std::string_view kSocketName = "/redis.sock";
constexpr std::string_view kConfigName = "/redis.conf";
constexpr std::string_view kLogName = "/redis.log";
// Exit code of the child when exec fails (the shell's "command not found").
constexpr int kExecFailedExit = 127;
// How much of the log a start-up failure quotes.
constexpr off_t kLogTailBytes = 2048;
constexpr std::size_t kLogTailLines = 15;

bool is_executable_file(const std::string& path) noexcept {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

std::string find_executable(const std::string& requested) {
  if (!requested.empty()) {
    if (::access(requested.c_str(), X_OK) != 0)
      throw_errno("RedisServer: redis-server executable " + requested);
    return requested;
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::string_view rest = path;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const std::string_view dir = rest.substr(0, colon);
      rest = colon == std::string_view::npos ? std::string_view()
                                             : rest.substr(colon + 1);
      if (dir.empty()) continue;
      std::string candidate = std::string(dir) + "/redis-server";
      if (is_executable_file(candidate)) return candidate;
    }
  }
  if (is_executable_file(std::string(kDefaultExecutable)))
    return std::string(kDefaultExecutable);
  throw_system_error(ENOENT,
                     "RedisServer: redis-server not found on PATH nor at " +
                         std::string(kDefaultExecutable));
}

// A redis.conf string argument: double-quoted, with \ and " escaped
// (redis parses config lines with sdssplitargs).
std::string config_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

void write_new_file(const std::string& path, std::string_view content) {
  FileDescriptor fd(
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) throw_errno("open " + path);
  while (!content.empty()) {
    const ssize_t written = ::write(fd.get(), content.data(), content.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + path);
    }
    content.remove_prefix(static_cast<std::size_t>(written));
  }
}

// The last lines of the server's log, for an error message.
std::string log_tail(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0)
    return "(no log: " + std::string(std::strerror(errno)) + ")";
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  const off_t start = std::max<off_t>(0, size - kLogTailBytes);
  std::string text(static_cast<std::size_t>(std::max<off_t>(0, size - start)),
                   '\0');
  const ssize_t got = ::pread(fd.get(), text.data(), text.size(), start);
  text.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty()) return "(log is empty)";
  std::size_t lines = 0;
  std::size_t cut = text.size();
  while (cut > 0 && lines < kLogTailLines) {
    cut = text.rfind('\n', cut - 1);
    if (cut == std::string::npos) {
      cut = 0;
      break;
    }
    ++lines;
  }
  return cut == 0 ? text : text.substr(cut + 1);
}

// Writes "<prefix><errno>\n" with write(2) only: runs in the forked child,
// where nothing that may allocate or lock is allowed (ARCHITECTURE.md rule 3).
void write_exec_failure(const char* prefix, std::size_t prefix_size,
                        int error) noexcept {
  char digits[16];
  std::size_t n = 0;
  unsigned value = static_cast<unsigned>(error);
  do {
    digits[sizeof(digits) - 1 - n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0 && n < sizeof(digits) - 1);
  [[maybe_unused]] ssize_t ignored =
      ::write(STDERR_FILENO, prefix, prefix_size);
  ignored = ::write(STDERR_FILENO, digits + sizeof(digits) - n, n);
  ignored = ::write(STDERR_FILENO, "\n", 1);
}

}  // namespace

RedisServer::RedisServer(RedisServerOptions options)
    : stop_grace_(options.stop_grace) {
  if (options.start_timeout <= milliseconds::zero()) {
    throw_invalid_argument("RedisServer: start_timeout must be > 0 ms (got " +
                           std::to_string(options.start_timeout.count()) + ")");
  }
  if (options.stop_grace < milliseconds::zero()) {
    throw_invalid_argument("RedisServer: stop_grace must be >= 0 ms (got " +
                           std::to_string(options.stop_grace.count()) + ")");
  }
  const std::string executable = find_executable(options.executable);
  directory_ = detail::make_private_directory("RedisServer", kDirectoryTemplate, kSocketName);
  socket_path_ = directory_ + std::string(kSocketName);
  url_ = "unix://" + socket_path_;
  const std::string config_path = directory_ + std::string(kConfigName);
  const std::string log_path = directory_ + std::string(kLogName);
  const std::string start_failure = "RedisServer: " + executable;

  try {
    // Unix socket only (port 0), nothing persisted (no save points, no AOF),
    // logging to stdout, which the child points at redis.log.
    std::string config = "# Written by mpkit::RedisServer.\n";
    config += "daemonize no\n";
    config += "supervised no\n";
    config += "port 0\n";
    config += "unixsocket " + config_string(socket_path_) + "\n";
    config += "unixsocketperm 700\n";
    config += "dir " + config_string(directory_) + "\n";
    config += "save \"\"\n";
    config += "appendonly no\n";
    config += "logfile \"\"\n";
    config += "loglevel notice\n";
    config += "always-show-logo no\n";
    for (const std::string& line : options.extra_config) config += line + "\n";
    write_new_file(config_path, config);

    // Everything the child needs is prepared here: after fork it only calls
    // async-signal-safe functions, then exec (ARCHITECTURE.md rule 3).
    FileDescriptor null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (null_fd.get() < 0) throw_errno("open /dev/null");
    FileDescriptor log_fd(
        ::open(log_path.c_str(),
               O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
    if (log_fd.get() < 0) throw_errno("open " + log_path);
    std::vector<char*> argv{const_cast<char*>(executable.c_str()),
                            const_cast<char*>(config_path.c_str()), nullptr};
    const std::string exec_failure =
        "mpkit RedisServer: exec " + executable + " failed, errno ";

    // kill_with_parent (Process's default) sets PR_SET_PDEATHSIG(SIGKILL)
    // before this runs; exec keeps it.
    process_.emplace([&, in = null_fd.get(), out = log_fd.get()]() -> int {
      if (::dup2(in, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 ||
          ::dup2(out, STDERR_FILENO) < 0) {
        ::_exit(kExecFailedExit);
      }
      // Descriptors the test process opened without O_CLOEXEC (sockets,
      // shared memory) must not live on in the server.
      ::close_range(3, ~0U, 0);
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      write_exec_failure(exec_failure.c_str(), exec_failure.size(), errno);
      // _exit, not return: Process would flush copies of the parent's stdio.
      ::_exit(kExecFailedExit);
    });
    pid_ = process_->pid();

    // Poll until PING answers. redis-server binds its socket only after
    // loading its config, so a missing socket file just means "not yet".
    const auto deadline =
        std::chrono::steady_clock::now() + options.start_timeout;
    auto pause = milliseconds(1);
    std::string last_error = "socket never appeared";
    for (;;) {
      if (!process_->is_alive()) {
        const int code = process_->exitcode().value_or(-SIGKILL);
        throw std::runtime_error(
            start_failure + " (pid " + std::to_string(pid_) + ") " +
            detail::describe_exit(code) +
            " before answering PING; its log ends with:\n" +
            log_tail(log_path));
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        detail::kill_and_reap(*process_);
        throw std::runtime_error(
            start_failure + " (pid " + std::to_string(pid_) +
            ") did not answer PING within " +
            std::to_string(options.start_timeout.count()) + " ms (" +
            last_error + "); killed it. Its log ends with:\n" +
            log_tail(log_path));
      }
      if (::access(socket_path_.c_str(), F_OK) == 0) {
        try {
          const auto left = std::chrono::ceil<milliseconds>(deadline - now);
          auto client = RedisClient::connect(
              url_, std::clamp(left, milliseconds(1), milliseconds(1000)));
          client.ping();
          break;
        } catch (const std::exception& error) {
          // system_error: not listening yet; RedisError: still loading.
          last_error = error.what();
        }
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, milliseconds(20));
    }
  } catch (...) {
    detail::abandon_start(process_, directory_);
    throw;
  }
}

RedisServer::RedisServer(RedisServer&& other) noexcept
    : process_(std::exchange(other.process_, std::nullopt)),
      pid_(other.pid_),
      directory_(std::move(other.directory_)),
      socket_path_(std::move(other.socket_path_)),
      url_(std::move(other.url_)),
      stop_grace_(other.stop_grace_) {}

RedisServer& RedisServer::operator=(RedisServer&& other) noexcept {
  if (this != &other) {
    stop();
    process_ = std::exchange(other.process_, std::nullopt);
    pid_ = other.pid_;
    directory_ = std::move(other.directory_);
    socket_path_ = std::move(other.socket_path_);
    url_ = std::move(other.url_);
    stop_grace_ = other.stop_grace_;
  }
  return *this;
}

RedisServer::~RedisServer() { stop(); }

void RedisServer::stop() noexcept {
  if (!process_) return;
  // SHUTDOWN NOSAVE is immediate; a SIGTERM is only acted on at the server's
  // next cron tick (up to 100 ms at the default hz 10).
  bool asked = false;
  try {
    auto client = RedisClient::connect(
        url_, std::clamp(stop_grace_, milliseconds(1), milliseconds(1000)));
    asked = true;
    // No reply comes: the server closes the connection, and command throws.
    client.command({"SHUTDOWN", "NOSAVE"});
  } catch (...) {
    // Expected after SHUTDOWN (connection closed); otherwise SIGTERM below.
  }
  detail::stop_server(process_, stop_grace_, asked, directory_);
}

}  // namespace mpkit
