#pragma once

// WorkerLauncher: how PoolCore starts, stops and hears about its workers.
//
//   ForkServer (ProcessPool): a single-threaded fork server (zygote) forked
//     at construction, before the pool's owner starts any thread of its own.
//     It forks every worker on request, is their parent (so it reaps them),
//     and reports (slot, generation, pid, wait status) back. The pool itself
//     therefore never forks from a threaded process (ARCHITECTURE.md rule 3).
//   ThreadLauncher (ThreadPool): one std::thread per worker; a thread that
//     returns is reported like an exited process (status = code << 8).
//
// Every report is followed by notify(context), which bumps the pool's report
// counter and wakes the parent if it is parked.
//
// Thread safety: spawn/kill/poll/shutdown from the pool's owner thread only.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

namespace mpkit::pools::detail {

/// Runs a worker: returns its exit code. Never throws.
using WorkerEntry = int (*)(void* context, std::uint32_t slot) noexcept;
using Notify = void (*)(void* context) noexcept;

struct LaunchReport {
  enum Kind : std::uint32_t { kSpawned = 1, kExited = 2, kSpawnFailed = 3, kLauncherGone = 4 };
  std::uint32_t kind = 0;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  pid_t pid = 0;
  int status = 0;  // kExited: a waitpid status; kSpawnFailed: errno
};

class WorkerLauncher {
 public:
  virtual ~WorkerLauncher() = default;
  virtual void spawn(std::uint32_t slot, std::uint32_t generation) = 0;
  /// Kills the worker of (slot, generation) if it still runs (SIGKILL).
  virtual void kill(std::uint32_t slot, std::uint32_t generation) = 0;
  /// The next report, if any (never blocks).
  virtual std::optional<LaunchReport> poll() = 0;
  /// Ends every worker (ProcessPool: SIGKILL; ThreadPool: joins threads,
  /// which leave once their task rings are closed) and the launcher itself.
  virtual void shutdown() noexcept = 0;
};

std::unique_ptr<WorkerLauncher> make_fork_server(WorkerEntry entry, Notify notify, void* context);
std::unique_ptr<WorkerLauncher> make_thread_launcher(WorkerEntry entry, Notify notify, void* context);

}  // namespace mpkit::pools::detail
