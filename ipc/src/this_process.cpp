#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <new>

#include "mpkit/ipc/this_process.hpp"

namespace mpkit::detail {

std::atomic<std::atomic<pid_t>*> g_pid_slot{nullptr};

namespace {

// Used only if the dedicated page cannot be had (mmap failed).
std::atomic<pid_t> g_fallback_slot{0};

void clear_after_fork() noexcept {
  // relaxed: the child is single-threaded while atfork handlers run.
  if (auto* slot = g_pid_slot.load(std::memory_order_relaxed)) {
    slot->store(0, std::memory_order_relaxed);
  }
}

std::atomic<pid_t>* make_slot() noexcept {
  const long page = ::sysconf(_SC_PAGESIZE);
  void* memory = ::mmap(nullptr, static_cast<std::size_t>(page), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    ::pthread_atfork(nullptr, nullptr, &clear_after_fork);
    return &g_fallback_slot;
  }
  if (::madvise(memory, static_cast<std::size_t>(page), MADV_WIPEONFORK) != 0) {
    ::pthread_atfork(nullptr, nullptr, &clear_after_fork);
  }
  return new (memory) std::atomic<pid_t>(0);
}

}  // namespace

pid_t init_pid_cache() noexcept {
  // A function-local static: made once per process image; a forked child
  // inherits the pointer and finds the slot zeroed.
  static std::atomic<pid_t>* const slot = make_slot();
  g_pid_slot.store(slot, std::memory_order_release);  // release: publishes the set-up page
  const pid_t pid = ::getpid();
  // relaxed: every thread computes the same value; racing stores agree.
  slot->store(pid, std::memory_order_relaxed);
  return pid;
}

}  // namespace mpkit::detail
