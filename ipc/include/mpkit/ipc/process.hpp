#pragma once

// Process: run a callable in a forked child, and reap it.
//
// The child runs `fn` and leaves with _exit: it never returns into the
// parent's stack, never runs the parent's destructors or atexit handlers
// (GoogleTest's reporting, a pool's destructor, shm unlinks; ARCHITECTURE.md rule
// 4). `fn` returning an int gives the exit code; a void `fn` exits 0; an
// exception escaping `fn` is printed to stderr ("mpkit child <pid>: <what>")
// and exits with kUncaughtExceptionExit. pthread_exit() in `fn` ends the whole
// child with code 0 (finishing that unwind would run the parent's frames).
//
// Exit status follows Python's multiprocessing: exitcode() >= 0 is the exit
// code (the kernel keeps its low 8 bits), < 0 is minus the signal that killed
// the child. Before forking, the parent flushes stdio so a child never writes
// the parent's buffered output a second time.
//
// Contract
//   Requires: the calling process has no threads of its own unless `fn` only
//             runs async-signal-safe code (ARCHITECTURE.md rule 3).
//   Guarantees: no zombie: join() reaps; the destructor kills (SIGKILL) a
//             child still running and reaps it. With kill_with_parent (the
//             default), the child gets SIGKILL when the parent dies; Linux
//             ties that signal to the parent *thread* that forked, so create
//             long-lived children from a long-lived thread.
//   Throws: std::system_error if fork fails ("fork").
//   Thread safety: one Process object per owning thread.
//
// Example
//   mpkit::Process child([] { return 7; });
//   auto code = child.join(std::chrono::seconds(5));   // std::optional<int>{7}

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace mpkit {

/// Exit code of a child whose callable threw.
inline constexpr int kUncaughtExceptionExit = 70;  // EX_SOFTWARE

struct ProcessOptions {
  /// PR_SET_PDEATHSIG(SIGKILL): the child dies with the parent (no orphans).
  bool kill_with_parent = true;
};

class Process {
 public:
  /// Forks; the child runs `fn()` and _exits.
  template <class Fn>
    requires std::invocable<Fn&>
  explicit Process(Fn fn, ProcessOptions options = {})
      : Process(ChildEntry(
                    [f = std::move(fn)]() mutable -> int {
                      if constexpr (std::is_convertible_v<std::invoke_result_t<Fn&>, int>) {
                        return static_cast<int>(f());
                      } else {
                        f();
                        return 0;
                      }
                    }),
                options) {}

  Process(Process&& other) noexcept : pid_(std::exchange(other.pid_, 0)), exitcode_(other.exitcode_) {}
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  /// Kills (SIGKILL) a child still running, then reaps it. Never throws.
  ~Process();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Waits for the child to exit; returns its exitcode, or nullopt if it is
  /// still running at the deadline. Repeated calls return the same value.
  std::optional<int> join(std::optional<std::chrono::steady_clock::duration> timeout = std::nullopt);

  /// The exitcode once the child has been reaped (by join or is_alive).
  [[nodiscard]] std::optional<int> exitcode() const noexcept { return exitcode_; }

  /// Reaps the child if it has exited; true while it runs.
  [[nodiscard]] bool is_alive();

  /// SIGTERM / SIGKILL; a no-op once the child has been reaped.
  void terminate() noexcept;
  void kill() noexcept;
  /// Sends `signal`; a no-op once reaped.
  void send_signal(int signal) noexcept;

 private:
  using ChildEntry = std::function<int()>;
  Process(ChildEntry entry, ProcessOptions options);
  void reap_blocking() noexcept;

  pid_t pid_ = 0;
  std::optional<int> exitcode_;
};

}  // namespace mpkit
