#include "mpkit/ipc/experiments/program.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>

#include "mpkit/ipc/error.hpp"

extern char** environ;

namespace mpkit {
namespace {

using Clock = std::chrono::steady_clock;

// While the program runs without a pidfd to poll, how often its exit is checked.
constexpr auto kExitPollSlice = std::chrono::milliseconds(5);

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool open() const noexcept { return fd_ >= 0; }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

[[nodiscard]] bool make_pipe(Pipe& pipe) noexcept {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  pipe.read.reset(fds[0]);
  pipe.write.reset(fds[1]);
  return true;
}

void set_nonblocking(int fd) noexcept {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) (void)::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Reads what is there now; closes `fd` at end of file (or on an error).
void read_available(Fd& fd, std::string& into) noexcept {
  std::array<char, 16384> buffer;
  while (fd.open()) {
    const ssize_t got = ::read(fd.get(), buffer.data(), buffer.size());
    if (got > 0) {
      into.append(buffer.data(), static_cast<std::size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == EAGAIN) return;
    fd.reset();  // end of file, or an error: nothing more will come
  }
}

// SIGPIPE blocked on the calling thread while the input is written: a
// program that stops reading early makes write() fail with EPIPE instead of
// killing the caller. A SIGPIPE that this writing raised is taken back
// before the mask is restored; one already pending is left alone.
class SigpipeBlocked {
 public:
  SigpipeBlocked() noexcept {
    sigemptyset(&pipe_only_);
    sigaddset(&pipe_only_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    was_pending_ = ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    blocked_ = ::pthread_sigmask(SIG_BLOCK, &pipe_only_, &previous_) == 0;
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;
  ~SigpipeBlocked() {
    if (!blocked_) return;
    if (raised_ && !was_pending_) {
      const timespec now{0, 0};
      while (::sigtimedwait(&pipe_only_, nullptr, &now) < 0 && errno == EINTR) {
      }
    }
    (void)::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  void raised() noexcept { raised_ = true; }

 private:
  sigset_t pipe_only_{};
  sigset_t previous_{};
  bool was_pending_ = false;
  bool blocked_ = false;
  bool raised_ = false;
};

// Writes what the pipe takes now; closes `fd` when all is written (input
// complete) or the reader is gone.
void write_available(Fd& fd, std::string_view input, std::size_t& done, bool& complete,
                     SigpipeBlocked& sigpipe) noexcept {
  while (fd.open() && done < input.size()) {
    const ssize_t n = ::write(fd.get(), input.data() + done, input.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0 && errno == EPIPE) sigpipe.raised();
    fd.reset();  // the program stopped reading: the input stays incomplete
    return;
  }
  if (fd.open() && done == input.size()) {
    complete = true;
    fd.reset();  // end of file for the program
  }
}

void record_status(ProgramResult& result, int status) noexcept {
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
}

// waitpid, EINTR retried; true once reaped.
[[nodiscard]] bool reap(pid_t pid, int options, int& status) noexcept {
  pid_t got = 0;
  do {
    got = ::waitpid(pid, &status, options);
  } while (got < 0 && errno == EINTR);
  return got == pid || (got < 0 && errno == ECHILD);
}

}  // namespace

std::string ProgramResult::describe(std::string_view name, std::chrono::seconds timeout) const {
  const std::string who(name);
  if (!started) return who + " could not be started: " + error;
  if (timed_out) return who + " did not finish within " + std::to_string(timeout.count()) + " s";
  if (signal != 0) return who + " was killed by signal " + std::to_string(signal);
  if (exit_code != 0) return who + " exited with status " + std::to_string(exit_code);
  return {};
}

ProgramResult run_program(const std::vector<std::string>& argv, std::string_view input,
                          std::chrono::milliseconds timeout, Stderr stderr_to) {
  if (argv.empty()) throw_invalid_argument("run_program: argv is empty");
  ProgramResult result;
  const bool capture_err = stderr_to == Stderr::kCapture;
  Pipe in;
  Pipe out;
  Pipe err;
  if (!make_pipe(in) || !make_pipe(out) || (capture_err && !make_pipe(err))) {
    result.error = std::string("pipe2: ") + std::strerror(errno);
    return result;
  }

  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_adddup2(&files, in.read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&files, out.write.get(), STDOUT_FILENO);
  if (capture_err) {
    posix_spawn_file_actions_adddup2(&files, err.write.get(), STDERR_FILENO);
  } else if (stderr_to == Stderr::kDiscard) {
    posix_spawn_file_actions_addopen(&files, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  }
  std::vector<std::string> args(argv);
  std::vector<char*> c_args;
  c_args.reserve(args.size() + 1);
  for (std::string& arg : args) c_args.push_back(arg.data());
  c_args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, c_args[0], &files, nullptr, c_args.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  // The program's ends: only it holds them now, so its exit is our end of file.
  in.read.reset();
  out.write.reset();
  err.write.reset();
  if (rc != 0) {
    result.error = std::strerror(rc);
    return result;
  }
  result.started = true;

  // A pidfd turns "has it exited?" into one more descriptor to poll.
  const Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  set_nonblocking(in.write.get());
  set_nonblocking(out.read.get());
  if (capture_err) set_nonblocking(err.read.get());

  SigpipeBlocked sigpipe;
  std::size_t written = 0;
  bool complete = input.empty();
  if (complete) in.write.reset();
  const auto deadline = Clock::now() + timeout;
  int status = 0;
  for (;;) {
    write_available(in.write, input, written, complete, sigpipe);
    read_available(out.read, result.out);
    if (capture_err) read_available(err.read, result.err);
    if (reap(pid, WNOHANG, status)) break;
    const auto now = Clock::now();
    if (now >= deadline) {
      ::kill(pid, SIGKILL);
      (void)reap(pid, 0, status);
      result.timed_out = true;
      break;
    }
    std::array<pollfd, 4> watch{};
    nfds_t count = 0;
    if (in.write.open()) watch[count++] = {in.write.get(), POLLOUT, 0};
    if (out.read.open()) watch[count++] = {out.read.get(), POLLIN, 0};
    if (err.read.open()) watch[count++] = {err.read.get(), POLLIN, 0};
    if (pidfd.open()) watch[count++] = {pidfd.get(), POLLIN, 0};
    auto slice = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    if (!pidfd.open()) slice = std::min<std::chrono::milliseconds>(slice, kExitPollSlice);
    const auto wait_ms = std::clamp<std::chrono::milliseconds::rep>(slice.count(), 0, INT_MAX);
    (void)::poll(watch.data(), count, static_cast<int>(wait_ms));  // every outcome re-checks
  }
  // Exited: what it wrote is in the pipes; whatever a grandchild may still
  // write is not waited for.
  read_available(out.read, result.out);
  if (capture_err) read_available(err.read, result.err);
  record_status(result, status);
  result.input_written = complete;
  return result;
}

}  // namespace mpkit
