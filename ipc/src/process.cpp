#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cxxabi.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/process.hpp"

namespace mpkit {
namespace {

// Exit code of a child whose PR_SET_PDEATHSIG setup found the parent already gone.
constexpr int kParentGoneExit = 71;

int exitcode_from_status(int status) noexcept {
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

// Runs in the child only: never returns, never unwinds past this frame.
[[noreturn]] void run_child(const std::function<int()>& entry, ProcessOptions options,
                            pid_t parent) noexcept {
  if (options.kill_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The parent may have died between fork() and prctl(): we were then
    // re-parented and the death signal will never come.
    if (::getppid() != parent) ::_exit(kParentGoneExit);
  }
  int code = kUncaughtExceptionExit;
  try {
    code = entry();
  } catch (const abi::__forced_unwind&) {
    // pthread_exit() (or cancellation) in the child's main thread: finishing
    // the unwind would run the parent's frames. End the child here instead.
    ::_exit(0);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "mpkit child %d: %s\n", static_cast<int>(::getpid()), error.what());
  } catch (...) {
    std::fprintf(stderr, "mpkit child %d: unknown exception\n", static_cast<int>(::getpid()));
  }
  std::fflush(stdout);
  std::fflush(stderr);
  ::_exit(code);
}

int pidfd_open(pid_t pid) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace

Process::Process(ChildEntry entry, ProcessOptions options) {
  const pid_t parent = ::getpid();
  // Whatever stdio holds unwritten would otherwise be written again by every
  // child when it flushes on its way out.
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) run_child(entry, options, parent);
  pid_ = pid;
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ != 0 && !exitcode_) {
      kill();
      reap_blocking();
    }
    pid_ = std::exchange(other.pid_, 0);
    exitcode_ = other.exitcode_;
  }
  return *this;
}

Process::~Process() {
  if (pid_ != 0 && !exitcode_) {
    kill();
    reap_blocking();
  }
}

void Process::reap_blocking() noexcept {
  int status = 0;
  pid_t result = 0;
  do {
    result = ::waitpid(pid_, &status, 0);
  } while (result < 0 && errno == EINTR);
  // ECHILD: someone else reaped it (a SIGCHLD=SIG_IGN parent); report it as
  // killed rather than inventing a code.
  exitcode_ = result == pid_ ? exitcode_from_status(status) : -SIGKILL;
}

std::optional<int> Process::join(std::optional<std::chrono::steady_clock::duration> timeout) {
  if (pid_ == 0) throw_invalid_argument("Process::join: no child (moved-from object)");
  if (exitcode_) return exitcode_;
  if (!timeout) {
    reap_blocking();
    return exitcode_;
  }
  if (*timeout < std::chrono::steady_clock::duration::zero()) {
    throw_invalid_argument("Process::join: timeout must be >= 0");
  }
  // A pidfd becomes readable when the child exits: poll() on it is a timed
  // wait for one specific child, which waitpid() cannot do.
  const int pidfd = pidfd_open(pid_);
  if (pidfd < 0) {
    // ESRCH: already reaped behind our back (SIGCHLD ignored); report it the
    // way the untimed join does.
    if (errno == ESRCH) {
      reap_blocking();
      return exitcode_;
    }
    throw_errno("pidfd_open " + std::to_string(pid_));
  }
  const Deadline deadline = deadline_after(*timeout);
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    // poll() takes an int of milliseconds: wait in slices, up to the deadline.
    const auto slice = std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, INT_MAX);
    pollfd watch{pidfd, POLLIN, 0};
    const int ready = ::poll(&watch, 1, static_cast<int>(slice));
    if (ready > 0) break;
    if (ready == 0 && Clock::now() >= deadline) {
      ::close(pidfd);
      return std::nullopt;
    }
    if (ready < 0 && errno != EINTR) {
      const int saved = errno;
      ::close(pidfd);
      throw_system_error(saved, "poll pidfd " + std::to_string(pid_));
    }
  }
  ::close(pidfd);
  reap_blocking();
  return exitcode_;
}

bool Process::is_alive() {
  if (pid_ == 0 || exitcode_) return false;
  int status = 0;
  const pid_t result = ::waitpid(pid_, &status, WNOHANG);
  if (result == 0) return true;
  exitcode_ = result == pid_ ? exitcode_from_status(status) : -SIGKILL;
  return false;
}

void Process::send_signal(int signal) noexcept {
  // Only while unreaped: after waitpid the pid may belong to someone else.
  if (pid_ != 0 && !exitcode_) ::kill(pid_, signal);
}

void Process::terminate() noexcept { send_signal(SIGTERM); }

void Process::kill() noexcept { send_signal(SIGKILL); }

}  // namespace mpkit
