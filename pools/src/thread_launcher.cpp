// ThreadLauncher: the ThreadPool's workers are std::threads running the
// same worker_main over the same rings (see launcher.hpp).
//
// A thread that returns from worker_main posts an kExited report with its
// code as a wait status (code << 8) under a mutex and notifies the parent;
// poll() hands reports out and joins the thread that posted it (it is
// leaving; join waits at most for its last instructions). kill() cannot stop
// a thread and does nothing (ThreadPool rejects task_timeout). shutdown()
// joins every thread: the pool closes the task rings first, so each leaves
// after its current chunk.

#include <unistd.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "launcher.hpp"

namespace mpkit::pools::detail {
namespace {

class ThreadLauncher final : public WorkerLauncher {
 public:
  ThreadLauncher(WorkerEntry entry, Notify notify, void* context)
      : entry_(entry), notify_(notify), context_(context) {}
  ThreadLauncher(const ThreadLauncher&) = delete;
  ThreadLauncher& operator=(const ThreadLauncher&) = delete;
  ~ThreadLauncher() override { shutdown(); }

  void spawn(std::uint32_t slot, std::uint32_t generation) override {
    // Held across the start: the thread's exit report comes after kSpawned.
    std::lock_guard held(mutex_);
    std::thread thread([this, slot, generation] {
      const int code = entry_(context_, slot);
      {
        std::lock_guard lock(mutex_);
        reports_.push_back({LaunchReport::kExited, slot, generation, ::getpid(), code << 8});
      }
      notify_(context_);
    });
    threads_[{slot, generation}] = std::move(thread);
    reports_.push_back({LaunchReport::kSpawned, slot, generation, ::getpid(), 0});
    notify_(context_);
  }
  void kill(std::uint32_t, std::uint32_t) override {}
  std::optional<LaunchReport> poll() override {
    std::thread leaving;
    LaunchReport report;
    {
      std::lock_guard lock(mutex_);
      if (reports_.empty()) return std::nullopt;
      report = reports_.front();
      reports_.pop_front();
      if (report.kind == LaunchReport::kExited) {
        auto it = threads_.find({report.slot, report.generation});
        if (it != threads_.end()) {
          leaving = std::move(it->second);
          threads_.erase(it);
        }
      }
    }
    if (leaving.joinable()) leaving.join();
    return report;
  }
  void shutdown() noexcept override {
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(threads_);
    }
    for (auto& [key, thread] : threads) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  WorkerEntry entry_;
  Notify notify_;
  void* context_;
  std::mutex mutex_;
  std::deque<LaunchReport> reports_;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::thread> threads_;
};

}  // namespace

std::unique_ptr<WorkerLauncher> make_thread_launcher(WorkerEntry entry, Notify notify, void* context) {
  return std::make_unique<ThreadLauncher>(entry, notify, context);
}

}  // namespace mpkit::pools::detail
