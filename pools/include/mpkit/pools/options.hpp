#pragma once

// PoolOptions: how a ProcessPool or ThreadPool is built. Every field is
// checked at construction; a bad value throws std::invalid_argument naming
// the field ("workers", "task_timeout", ...).

#include <chrono>
#include <cstddef>
#include <optional>

namespace mpkit {

/// How tasks and results travel between the parent and its workers.
enum class PoolTransport {
  /// Per worker, one SpscRing of 64-byte records each way, in anonymous
  /// shared memory made at construction (the fast path: no system call per
  /// task while both sides are awake).
  kSpscRings,
};

struct PoolOptions {
  /// Number of workers; nullopt: the cores this process may run on
  /// (sched_getaffinity). 0 is an error.
  std::optional<std::size_t> workers;
  /// Run once in each worker before its first task (a plain function, so its
  /// address is the same in every forked worker). A throw ends the worker
  /// (exit code kInitializerFailedExit), which counts as a crash.
  void (*initializer)() = nullptr;
  /// A worker leaves after this many tasks (items) and is replaced; 0: never.
  /// Each worker's limit is drawn from [n, n + n * max_tasks_jitter] so the
  /// workers do not all recycle at once.
  std::size_t max_tasks_per_child = 0;
  double max_tasks_jitter = 0.1;
  /// A task (item) running longer is failed with TaskTimedOut and its worker
  /// killed (SIGKILL) and replaced. ProcessPool only: a ThreadPool cannot
  /// kill a thread, and rejects the option. Negative or zero: an error.
  std::optional<std::chrono::nanoseconds> task_timeout;
  PoolTransport transport = PoolTransport::kSpscRings;
  /// Crash-loop breaker: more than crash_limit abnormal worker deaths within
  /// crash_window stop the respawning; pending tasks fail with PoolBroken.
  std::size_t crash_limit = 64;
  std::chrono::milliseconds crash_window{1000};
  /// Records (64 bytes each) per ring, each direction, per worker: in [2,
  /// 2^24], and workers x 2 x ring_records x 64 B no more than this
  /// machine's physical memory (the rings are mapped at construction).
  std::size_t ring_records = 2048;
};

/// Exit code of a worker whose initializer threw.
inline constexpr int kInitializerFailedExit = 71;
/// Exit code of a worker that met a malformed message (a bug, never a user error).
inline constexpr int kWorkerProtocolExit = 72;

}  // namespace mpkit
