// McsLock slot claims: the calling thread's key and the claim table scan.
// The protocol is in mcs_lock.hpp.

#include "mpkit/locking/mcs_lock.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "mpkit/ipc/error.hpp"

namespace mpkit::locking::detail {
namespace {

struct KeyCache {
  pid_t pid = 0;  // the process the key was computed in (fork changes it)
  std::uint64_t key = 0;
};
thread_local KeyCache t_key;

// Gone: /proc/<pid>/task/<tid> does not exist. Any other answer (EACCES
// under hidepid, say) counts as alive: never take a live thread's slot.
bool thread_is_gone(std::uint64_t key) {
  const auto pid = static_cast<std::uint32_t>(key >> 32);
  const auto tid = static_cast<std::uint32_t>(key);
  const std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid);
  return ::access(path.c_str(), F_OK) != 0 && errno == ENOENT;
}

}  // namespace

std::uint64_t mcs_claim_key() noexcept {
  const pid_t pid = current_pid();
  if (t_key.pid != pid) {
    const auto tid = static_cast<std::uint64_t>(::syscall(SYS_gettid));
    t_key = KeyCache{pid, (static_cast<std::uint64_t>(pid) << 32) | tid};
  }
  return t_key.key;
}

std::uint32_t mcs_find_slot(const std::atomic<std::uint64_t>* claims, std::uint32_t count,
                            std::uint64_t key) noexcept {
  for (std::uint32_t i = 0; i < count; ++i) {
    // relaxed: claims are ownership marks; no data travels with them.
    if (claims[i].load(std::memory_order_relaxed) == key) return i;
  }
  return count;
}

std::uint32_t mcs_claim_slot(std::atomic<std::uint64_t>* claims, std::uint32_t count,
                             std::uint64_t key) {
  // Cases, in order: (1) we already hold a slot; (2) an empty entry; (3) an
  // entry whose thread is gone; (4) every entry is a live thread's: EAGAIN.
  // relaxed everywhere: claims are ownership marks, see mcs_find_slot.
  if (const std::uint32_t own = mcs_find_slot(claims, count, key); own < count) {  // case (1)
    return own;
  }
  for (std::uint32_t i = 0; i < count; ++i) {  // case (2)
    std::uint64_t expected = 0;
    if (claims[i].compare_exchange_strong(expected, key, std::memory_order_relaxed)) return i;
  }
  for (std::uint32_t i = 0; i < count; ++i) {  // case (3)
    std::uint64_t expected = claims[i].load(std::memory_order_relaxed);
    if (expected != 0 && thread_is_gone(expected) &&
        claims[i].compare_exchange_strong(expected, key, std::memory_order_relaxed)) {
      return i;
    }
  }
  throw_system_error(EAGAIN, "McsLock: all " + std::to_string(count) +  // case (4)
                                 " queue slots belong to live threads");
}

}  // namespace mpkit::locking::detail
