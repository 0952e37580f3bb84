#pragma once

// What a pool task can end with besides its value, and Outcome<R>, the
// per-item result of map_outcomes().
//
//   PoolError          base of every pool failure (std::runtime_error)
//   ├ TaskError        the task threw in the worker; what() carries the
//   │                  exception's type and message as the worker saw them.
//   │                  The worker survives.
//   ├ WorkerDied       the worker holding the task died (signal, or an exit
//   │                  without delivering): pid, signal or exit code, task.
//   │ └ TaskTimedOut   the task ran past the pool's task_timeout; its worker
//   │                  was killed (SIGKILL) and replaced.
//   ├ PoolBroken       the crash-loop breaker tripped (respawning stopped),
//   │                  or the pool was terminated/destroyed with the task
//   │                  still pending.
//   └ WaitTimedOut     AsyncResult::get(timeout) / imap next(timeout): the
//                      deadline passed before the result was in (the task
//                      itself goes on).
//
// With a chunksize above 1, a worker death fails the whole chunk it held:
// every item of that chunk gets the WorkerDied (task_index() is the chunk's
// first item, chunk_items() its length).
//
// Thread safety: values; copy freely.

#include <sys/types.h>

#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace mpkit {

class PoolError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TaskError : public PoolError {
 public:
  using PoolError::PoolError;
};

class WorkerDied : public PoolError {
 public:
  /// `signal` > 0: killed by it; otherwise `exit_code` is the exit status.
  WorkerDied(pid_t pid, int signal, int exit_code, std::size_t task_index, std::size_t chunk_items);
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  [[nodiscard]] int signal() const noexcept { return signal_; }
  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }
  /// Index of the task in its call (map/imap: the input's position; the
  /// first item of the chunk when chunksize > 1; submit: 0).
  [[nodiscard]] std::size_t task_index() const noexcept { return task_index_; }
  [[nodiscard]] std::size_t chunk_items() const noexcept { return chunk_items_; }

 protected:
  WorkerDied(std::string what, pid_t pid, int signal, int exit_code, std::size_t task_index,
             std::size_t chunk_items);

 private:
  pid_t pid_;
  int signal_;
  int exit_code_;
  std::size_t task_index_;
  std::size_t chunk_items_;
};

class TaskTimedOut : public WorkerDied {
 public:
  TaskTimedOut(pid_t pid, double timeout_seconds, std::size_t task_index, std::size_t chunk_items);
};

class PoolBroken : public PoolError {
 public:
  using PoolError::PoolError;
};

class WaitTimedOut : public PoolError {
 public:
  using PoolError::PoolError;
};

/// One item's result: a value or the exception that stands for it.
template <class R>
class Outcome {
 public:
  Outcome() = default;
  explicit Outcome(R value) : state_(std::in_place_index<1>, std::move(value)) {}
  explicit Outcome(std::exception_ptr error) : state_(std::in_place_index<2>, std::move(error)) {}

  [[nodiscard]] bool ok() const noexcept { return state_.index() == 1; }
  [[nodiscard]] bool has_error() const noexcept { return state_.index() == 2; }
  /// The value; rethrows the error (TaskError, WorkerDied, ...) otherwise.
  [[nodiscard]] const R& value() const& {
    if (state_.index() == 2) std::rethrow_exception(std::get<2>(state_));
    if (state_.index() == 0) throw PoolError("Outcome: no result (yet)");
    return std::get<1>(state_);
  }
  [[nodiscard]] R&& value() && {
    (void)std::as_const(*this).value();
    return std::move(std::get<1>(state_));
  }
  [[nodiscard]] std::exception_ptr error() const noexcept {
    return state_.index() == 2 ? std::get<2>(state_) : nullptr;
  }

 private:
  std::variant<std::monostate, R, std::exception_ptr> state_;
};

/// A void task's outcome: success or an error.
struct Unit {
  friend bool operator==(Unit, Unit) = default;
};

}  // namespace mpkit
