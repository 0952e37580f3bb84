#pragma once

// Helpers every test binary shares (tests/support/, the interface target
// mpkit_test_support):
// - Shared<T>: one T in an anonymous MAP_SHARED mapping (the lab's
//   SharedBox), made before fork so that children see it (at the same
//   address) and threads share it too; T may have a destructor (a file lock
//   removes its file), which only the creating process runs; kZeroFilled
//   maps the bytes and constructs nothing;
// - Child: a plain fork() whose child runs a callable returning its exit code
//   and leaves with _exit, never returning into GoogleTest; joined with a
//   time limit, killed and reaped on every path;
// - Watchdog: SIGALRM ends a test that hangs, with a message, rather than
//   leaving it to the ctest TIMEOUT;
// - Sigusr1Handler: a handler installed WITHOUT SA_RESTART, so blocking
//   system calls it interrupts fail with EINTR (the "survives signals" tests);
// - eventually(): polls a condition with a time limit;
// - asleep_in_futex(): whether a thread or process is blocked in futex(2),
//   read from /proc/<tid>/syscall, so a test can act exactly when a waiter
//   has parked (rather than sleeping "long enough" and hoping);
// - kSanitized: true under ASan or TSan, to scale stress tests down.
//
// Children speak only through shared memory and their exit status (ARCHITECTURE.md, style
// habit 13). No helper starts a thread, so forking stays legal (ARCHITECTURE.md
// rule 3) in every test that does not start threads of its own.

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

#include "mpkit/ipc/experiments/shared_box.hpp"

namespace mpkit::test {

using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

/// One T in its own anonymous MAP_SHARED mapping; Shared<T>(kZeroFilled)
/// runs no constructor (the bytes stay all zero).
template <class T>
using Shared = SharedBox<T>;
using mpkit::kZeroFilled;
using mpkit::ZeroFilled;

/// The message of the std::invalid_argument `fn()` throws, or a text that
/// contains no argument's name when it throws none (so a find() on it fails).
template <class Fn>
std::string invalid_argument_message(Fn&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "(no std::invalid_argument was thrown)";
}

/// How a child ended, printable in GoogleTest messages.
struct ExitStatus {
  int code = -1;           ///< exit code, or -1
  int signal = 0;          ///< the signal that killed it, or 0
  bool timed_out = false;  ///< still running at the join deadline (then killed)

  [[nodiscard]] bool ok() const noexcept { return code == 0 && signal == 0 && !timed_out; }
  static ExitStatus exited(int c) noexcept { return {c, 0, false}; }
  static ExitStatus killed_by(int s) noexcept { return {-1, s, false}; }
  friend bool operator==(const ExitStatus&, const ExitStatus&) = default;
  friend std::ostream& operator<<(std::ostream& os, const ExitStatus& s) {
    if (s.timed_out) return os << "still running at the join deadline (killed)";
    if (s.signal != 0) return os << "killed by signal " << s.signal << " (" << ::strsignal(s.signal) << ")";
    return os << "exit code " << s.code;
  }
};

/// Exit codes the helpers use in a child (tests use small positive codes).
inline constexpr int kChildThrew = 100;

/// A forked child running `fn` (returning its exit code) under a watchdog.
class Child {
 public:
  template <class Fn>
  explicit Child(Fn fn, std::chrono::seconds watchdog = 60s) {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test binary
      ::alarm(static_cast<unsigned>(watchdog.count()));  // a hung child dies by SIGALRM
      int code = kChildThrew;
      try {
        code = fn();
      } catch (...) {
      }
      ::_exit(code);  // never unwind into GoogleTest (ARCHITECTURE.md rule 4)
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  Child(Child&&) = delete;
  Child& operator=(Child&&) = delete;
  ~Child() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      (void)reap(true);
    }
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  void send(int signal) const noexcept { ::kill(pid_, signal); }

  /// Waits for the child to end; kills it if it is still running at `timeout`.
  ExitStatus join(std::chrono::milliseconds timeout = 60s) {
    if (reaped_) return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!reap(false)) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        (void)reap(true);
        status_.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
    return status_;
  }

 private:
  bool reap(bool block) {
    int raw = 0;
    pid_t got = 0;
    do {
      got = ::waitpid(pid_, &raw, block ? 0 : WNOHANG);
    } while (got < 0 && errno == EINTR);
    if (got != pid_) return false;
    reaped_ = true;
    if (WIFEXITED(raw)) status_ = ExitStatus::exited(WEXITSTATUS(raw));
    if (WIFSIGNALED(raw)) status_ = ExitStatus::killed_by(WTERMSIG(raw));
    return true;
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  ExitStatus status_;
};

/// Polls `condition` every 100 µs until it holds (true) or `timeout` passes.
template <class Condition>
[[nodiscard]] bool eventually(Condition&& condition, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

/// The calling thread's kernel id (for asleep_in_futex and pthread-free
/// bookkeeping).
inline pid_t this_tid() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

/// True if thread or process `tid` is blocked in the futex system call now.
inline bool asleep_in_futex(pid_t tid) {
  std::ifstream syscall_file("/proc/" + std::to_string(tid) + "/syscall");
  long number = -1;
  return static_cast<bool>(syscall_file >> number) && number == SYS_futex;
}

/// Waits (bounded) until `tid` is blocked in futex(2); false on time-out.
[[nodiscard]] inline bool wait_until_asleep(pid_t tid, std::chrono::milliseconds timeout = 10s) {
  return eventually([&] { return asleep_in_futex(tid); }, timeout);
}

/// Ends the whole test binary with a message if a test outlives `limit`
/// (a deadlocked thread test would otherwise sit until the ctest TIMEOUT).
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit = 60s) {
    struct sigaction action {};
    action.sa_handler = &fire;
    ::sigemptyset(&action.sa_mask);
    ::sigaction(SIGALRM, &action, &previous_);
    ::alarm(static_cast<unsigned>(limit.count()));
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  Watchdog(Watchdog&&) = delete;
  Watchdog& operator=(Watchdog&&) = delete;
  ~Watchdog() {
    ::alarm(0);
    ::sigaction(SIGALRM, &previous_, nullptr);
  }

 private:
  static void fire(int /*signal*/) {
    static constexpr char kMessage[] = "\nwatchdog: the test hung; aborting the test binary\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    ::_exit(3);
  }
  struct sigaction previous_ {};
};

/// Deliveries of SIGUSR1 to this process since the handler was installed.
inline std::atomic<int> g_sigusr1_count{0};
static_assert(std::atomic<int>::is_always_lock_free, "touched from a signal handler");

/// Installs a counting SIGUSR1 handler without SA_RESTART (so a futex wait
/// it interrupts returns EINTR) and restores the previous one at scope end.
/// A forked child inherits it.
class Sigusr1Handler {
 public:
  Sigusr1Handler() {
    g_sigusr1_count.store(0);
    struct sigaction action {};
    action.sa_handler = [](int) { g_sigusr1_count.fetch_add(1, std::memory_order_relaxed); };
    ::sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: interrupted calls fail with EINTR
    ::sigaction(SIGUSR1, &action, &previous_);
  }
  Sigusr1Handler(const Sigusr1Handler&) = delete;
  Sigusr1Handler& operator=(const Sigusr1Handler&) = delete;
  Sigusr1Handler(Sigusr1Handler&&) = delete;
  Sigusr1Handler& operator=(Sigusr1Handler&&) = delete;
  ~Sigusr1Handler() { ::sigaction(SIGUSR1, &previous_, nullptr); }

 private:
  struct sigaction previous_ {};
};

/// Sends SIGUSR1 `times` times to thread `target`, `gap` apart.
inline void pester_thread(pthread_t target, int times = 50,
                          std::chrono::microseconds gap = 1000us) {
  for (int i = 0; i < times; ++i) {
    ::pthread_kill(target, SIGUSR1);
    std::this_thread::sleep_for(gap);
  }
}

/// Sends SIGUSR1 `times` times to process `pid`, `gap` apart.
inline void pester_process(pid_t pid, int times = 50, std::chrono::microseconds gap = 1000us) {
  for (int i = 0; i < times; ++i) {
    ::kill(pid, SIGUSR1);
    std::this_thread::sleep_for(gap);
  }
}

/// Seconds since `start`, for loose "ended at its deadline" checks.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace mpkit::test
