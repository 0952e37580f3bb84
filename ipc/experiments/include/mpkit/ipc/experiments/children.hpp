#pragma once

// ForkedChildren: the children of one experiment run, started together
// through one start gate and joined with one deadline; ChildExit: the exit
// codes every experiment's children use.
//
// A child is spawned with an optional `prepare` (pin itself, close the pipe
// end it never uses) and a `body`. It runs prepare(), checks in at the gate
// (detail::StartGate, in an anonymous mapping of its own) and waits for the
// parent's open(); if the gate does not open within the start timeout it
// exits with ChildExit::kNoStart, else it runs body() and exits with what
// body returns (a ChildExit or a plain int). The parent calls
// await_check_in() (every child spawned so far is at the gate), reads its
// clock if it times the run, then open(); start() does both, and
// start_timed() does all three and returns the clock it read (now_ns). join(deadline)
// reaps each child within what is left of one shared deadline; a child
// still running then is SIGKILLed, reaped and reported as timed out, so a
// stuck child costs the deadline and never a hang. The destructor kills and
// reaps any child not joined yet (Process's guarantee), before the gate's
// mapping goes: declare a ForkedChildren after the shared state its children
// use, so every early return reaps them first.
//
// Contract
//   Requires: the calling process has no threads of its own unless the
//             children only run async-signal-safe code (ARCHITECTURE.md rule
//             3); at most 2^32 - 1 children.
//   Guarantees: every child leaves by _exit (Process, ARCHITECTURE.md rule
//             4); no zombie outlives the object; join() never waits past its
//             deadline (plus the time to reap a SIGKILLed child).
//   Throws: std::system_error if the mapping or a fork fails (spawn; the
//             children already spawned are killed and reaped as usual).
//   Thread safety: one owning thread.
//
// Example
//   mpkit::ForkedChildren children;
//   for (unsigned i = 0; i < n; ++i) {
//     children.spawn([&, i] { pinning.pin(i); },
//                    [&, i] { return work(i) ? ChildExit::kOk : ChildExit::kCorrupt; });
//   }
//   const std::optional<std::int64_t> start_ns = children.start_timed();
//   if (!start_ns) return failed();
//   const mpkit::ChildrenReport report = children.join(mpkit::deadline_after(budget));
//   if (!report.ok()) progress(report.describe());

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/experiments/start_gate.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/process.hpp"

namespace mpkit {

/// Why an experiment's child exited. 0 is success; Process adds
/// kUncaughtExceptionExit (70) for a body that threw, and a negative
/// exitcode for a signal.
enum class ChildExit : int {
  kOk = 0,
  kNoStart = 3,     ///< the start gate (or the peer's first word) never came
  kStalled = 4,     ///< a bounded wait ran out: a push, a pop, a reply, a lock
  kCorrupt = 5,     ///< a value was not the one expected
  kLockFailed = 6,  ///< a lock failed, or its previous owner died inside
  kIoError = 7,     ///< a system call failed (a file's open, read or write)
};

/// "stalled", "no start", ... for a ChildExit value; "exit <n>" for another
/// code, "signal <n>" for a negative exitcode.
[[nodiscard]] std::string describe_exitcode(int exitcode);

/// How the children of one join ended, in spawn order.
struct ChildrenReport {
  /// Each child's Process exitcode (>= 0 exit code, < 0 minus the signal), or
  /// nullopt for one still running at the deadline (then SIGKILLed and reaped).
  std::vector<std::optional<int>> exitcodes;

  /// Every child exited with 0.
  [[nodiscard]] bool ok() const noexcept;
  /// Children still running at the deadline.
  [[nodiscard]] std::size_t timed_out() const noexcept;
  /// "" when ok(); else one clause per child that failed, as in
  /// "child 1: stalled; child 2: still running at the deadline (killed)".
  [[nodiscard]] std::string describe() const;
};

class ForkedChildren {
 public:
  /// How long a child waits at the gate, and the parent for check-ins, by default.
  static constexpr std::chrono::seconds kDefaultStartTimeout{10};

  explicit ForkedChildren(Clock::duration start_timeout = kDefaultStartTimeout);
  ForkedChildren(const ForkedChildren&) = delete;
  ForkedChildren& operator=(const ForkedChildren&) = delete;
  ForkedChildren(ForkedChildren&&) = delete;
  ForkedChildren& operator=(ForkedChildren&&) = delete;
  /// Kills (SIGKILL) and reaps every child not joined yet.
  ~ForkedChildren() = default;

  /// Forks a child that runs prepare(), waits at the gate, then exits with body().
  template <class Prepare, class Body>
    requires std::invocable<Prepare&> && std::invocable<Body&>
  void spawn(Prepare prepare, Body body) {
    detail::StartGate* gate = gate_.get();
    const Clock::duration timeout = start_timeout_;
    children_.emplace_back([gate, timeout, prepare = std::move(prepare),
                            body = std::move(body)]() mutable -> int {
      prepare();
      if (!gate->check_in_and_wait(timeout)) return static_cast<int>(ChildExit::kNoStart);
      return static_cast<int>(body());
    });
  }
  /// Forks a child that waits at the gate, then exits with body().
  template <class Body>
    requires std::invocable<Body&>
  void spawn(Body body) {
    spawn([] {}, std::move(body));
  }

  [[nodiscard]] std::size_t size() const noexcept { return children_.size(); }
  /// A child's pid (spawn order).
  [[nodiscard]] pid_t pid(std::size_t index) const noexcept { return children_[index].pid(); }

  /// Waits until every child spawned so far has checked in at the gate;
  /// false at the start timeout.
  [[nodiscard]] bool await_check_in() noexcept;
  /// Releases every child waiting at the gate (and any that arrives later).
  void open() noexcept;
  /// await_check_in(), then open() if every child checked in.
  [[nodiscard]] bool start() noexcept;
  /// start(), reading detail::now_ns() between the check-in and open():
  /// the run's start time, or nullopt if a child never checked in.
  [[nodiscard]] std::optional<std::int64_t> start_timed() noexcept;

  /// Reaps every child within one deadline; a child still running at it is
  /// SIGKILLed, reaped and reported as timed out.
  ChildrenReport join(Deadline deadline);
  /// join(deadline_after(budget)).
  ChildrenReport join_within(Clock::duration budget) { return join(deadline_after(budget)); }

 private:
  // Declared before children_: the gate's mapping outlives them.
  SharedBox<detail::StartGate> gate_;
  Clock::duration start_timeout_;
  std::vector<Process> children_;
};

}  // namespace mpkit
