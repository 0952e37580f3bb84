#pragma once

// Memory accounting for one mapping of one process, from /proc/<pid>/smaps:
// the numbers that prove an array is shared rather than copied (the
// chapter's `pmap` check, as data a test or an experiment can compare).
//
// What the fields mean (proc(5)): Rss counts the pages of the mapping this
// process has in its page tables; Pss divides each of them by the number of
// processes mapping it (two sharers: half each); Shared_* / Private_* split
// Rss by whether another process maps the page too, and Dirty means written
// since it was allocated. A page only this process maps counts as private
// even in a MAP_SHARED mapping: "private" is a present-day count, not a
// promise. So a worker that has touched a whole array its parent also
// touched shows Pss ~ size / 2 and Private_Dirty ~ 0: nothing was copied.
//
// Finding the mapping: by address (a forked child maps an inherited array at
// the parent's address; an anonymous shared mapping shows in smaps as
// "/dev/zero (deleted)", so only the address can find it), by address range
// (every VMA overlapping it, summed: the kernel may split one mmap into
// several VMAs), or by segment name ("/dev/shm/mpkit.<pid>.<tag>", with
// " (deleted)" once unlinked) for an unrelated process that mapped it
// elsewhere.
//
// Contract
//   Requires: the caller may read /proc/<pid>/smaps (its own children, or
//             itself, always; others need ptrace-read permission).
//   Throws: std::system_error ESRCH naming the pid if the process is gone
//           (no /proc entry, or a zombie with no mappings left), other errno
//           values naming /proc/<pid>/smaps if it cannot be read;
//           MappingNotFoundError naming the address or segment if no mapping
//           matches.
//   Thread safety: any thread; it only reads /proc. The figures are a
//           snapshot: a process touching pages meanwhile moves them.
//
// Example
//   auto a = mpkit::SharedArray<double>::anonymous(1 << 20);
//   a.fill(1.0);
//   mpkit::MappingMemory m = mpkit::memory_of(::getpid(), a.memory());
//   // m.rss_bytes ~ 8 MiB, m.pss_bytes ~ 8 MiB (sole sharer)

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "mpkit/ipc/segment_name.hpp"
#include "mpkit/ipc/shared_memory.hpp"

namespace mpkit {

/// No mapping of the process matched the address or name asked for.
class MappingNotFoundError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One mapping's memory in one process (summed over its VMAs). Bytes.
struct MappingMemory {
  pid_t pid = 0;
  std::uintptr_t start = 0;  ///< lowest address of the matching VMAs
  std::uintptr_t end = 0;    ///< one past the highest
  std::string path;          ///< as smaps names it ("/dev/zero (deleted)", "/dev/shm/mpkit.1.2")
  unsigned vmas = 0;         ///< how many VMAs were summed
  std::uint64_t size_bytes = 0;  ///< virtual size
  std::uint64_t rss_bytes = 0;
  std::uint64_t pss_bytes = 0;
  std::uint64_t shared_clean_bytes = 0;
  std::uint64_t shared_dirty_bytes = 0;
  std::uint64_t private_clean_bytes = 0;
  std::uint64_t private_dirty_bytes = 0;
  std::uint64_t swap_bytes = 0;

  [[nodiscard]] std::uint64_t private_bytes() const noexcept {
    return private_clean_bytes + private_dirty_bytes;
  }
  [[nodiscard]] std::uint64_t shared_bytes() const noexcept {
    return shared_clean_bytes + shared_dirty_bytes;
  }
};

/// The VMA of `pid` that contains `address`.
[[nodiscard]] MappingMemory memory_of(pid_t pid, const void* address);

/// Every VMA of `pid` overlapping [address, address + length), summed.
[[nodiscard]] MappingMemory memory_of(pid_t pid, const void* address, std::size_t length);

/// `memory`'s address range in `pid`: right for the caller itself and for
/// children forked after the mapping was made (same address).
[[nodiscard]] MappingMemory memory_of(pid_t pid, const SharedMemory& memory);

/// Every VMA of `pid` that maps the named segment `name` (at any address).
[[nodiscard]] MappingMemory memory_of(pid_t pid, const SegmentName& name);

}  // namespace mpkit
