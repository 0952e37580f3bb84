// The asymmetric StoreLoad barrier of detail/ring_wait.hpp: publishers
// register for MEMBARRIER_CMD_GLOBAL_EXPEDITED and skip their fence; a waiter
// about to sleep runs the global barrier instead.

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "mpkit/ipc/detail/ring_wait.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit::detail {
namespace {

long membarrier(int command) noexcept { return ::syscall(SYS_membarrier, command, 0, 0); }

// Asked once per process image (a fork inherits the answer: same kernel).
bool kernel_offers_global_expedited() noexcept {
  static const bool offered = [] {
    const long commands = membarrier(MEMBARRIER_CMD_QUERY);
    return commands > 0 && (commands & MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0 &&
           (commands & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) != 0;
  }();
  return offered;
}

}  // namespace

std::atomic<std::int64_t> g_light_publisher{0};

bool register_light_publisher() noexcept {
  const std::int64_t self = current_pid();
  const bool ok = kernel_offers_global_expedited() &&
                  membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0;
  // relaxed: every thread of this process computes the same answer; the
  // registration itself is ordered by the system call.
  g_light_publisher.store(2 * self + (ok ? 1 : 0), std::memory_order_relaxed);
  return ok;
}

void heavy_barrier() noexcept {
  // A failure here (none is expected once QUERY offered the command) leaves
  // only the fence: a registered publisher's store might then be missed for
  // one wait slice, never for good (every sleep is bounded).
  if (kernel_offers_global_expedited()) (void)membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED);
#if defined(__SANITIZE_THREAD__)
  // TSan builds never call this (ring gates use seq_cst RMWs there, see
  // kRingFenceAsRmw), and GCC rejects fences under -fsanitize=thread.
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

}  // namespace mpkit::detail
