#include "mpkit/ipc/experiments/children.hpp"

#include <algorithm>
#include <string>

#include "mpkit/ipc/detail/clock.hpp"

namespace mpkit {

std::string describe_exitcode(int exitcode) {
  if (exitcode < 0) return "signal " + std::to_string(-exitcode);
  switch (static_cast<ChildExit>(exitcode)) {
    case ChildExit::kOk: return "ok";
    case ChildExit::kNoStart: return "never started";
    case ChildExit::kStalled: return "stalled";
    case ChildExit::kCorrupt: return "saw a wrong value";
    case ChildExit::kLockFailed: return "lock failed";
    case ChildExit::kIoError: return "I/O error";
  }
  if (exitcode == kUncaughtExceptionExit) return "threw";
  return "exit " + std::to_string(exitcode);
}

bool ChildrenReport::ok() const noexcept {
  return std::all_of(exitcodes.begin(), exitcodes.end(),
                     [](const std::optional<int>& code) { return code == 0; });
}

std::size_t ChildrenReport::timed_out() const noexcept {
  return static_cast<std::size_t>(std::count(exitcodes.begin(), exitcodes.end(), std::nullopt));
}

std::string ChildrenReport::describe() const {
  std::string out;
  for (std::size_t i = 0; i < exitcodes.size(); ++i) {
    if (exitcodes[i] == 0) continue;
    out += (out.empty() ? "child " : "; child ") + std::to_string(i) + ": " +
           (exitcodes[i] ? describe_exitcode(*exitcodes[i])
                         : std::string("still running at the deadline (killed)"));
  }
  return out;
}

ForkedChildren::ForkedChildren(Clock::duration start_timeout) : start_timeout_(start_timeout) {}

bool ForkedChildren::await_check_in() noexcept {
  return gate_->await_children(static_cast<std::uint32_t>(children_.size()), start_timeout_);
}

void ForkedChildren::open() noexcept { gate_->open(); }

bool ForkedChildren::start() noexcept {
  if (!await_check_in()) return false;
  open();
  return true;
}

std::optional<std::int64_t> ForkedChildren::start_timed() noexcept {
  if (!await_check_in()) return std::nullopt;
  const std::int64_t start_ns = detail::now_ns();
  open();
  return start_ns;
}

ChildrenReport ForkedChildren::join(Deadline deadline) {
  ChildrenReport report;
  report.exitcodes.reserve(children_.size());
  for (Process& child : children_) {
    std::optional<int> code =
        child.join(std::max(Clock::duration::zero(), deadline - Clock::now()));
    if (!code) {
      child.kill();
      (void)child.join();  // reaps it; the report says it had to be killed
    }
    report.exitcodes.push_back(code);
  }
  return report;
}

}  // namespace mpkit
