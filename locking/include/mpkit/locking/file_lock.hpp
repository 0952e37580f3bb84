#pragma once

// FlockLock, FcntlLock, OfdLock: an exclusive lock on a whole file, taken
// with flock(2), fcntl(2) F_SETLKW (POSIX record locks) or fcntl(2)
// F_OFD_SETLKW (open-file-description locks).
//
// What the shared object holds: the file's path and an id; no descriptor.
// A descriptor belongs to a process, so each participant opens the file
// itself on first use and keeps the descriptor in a process-local cache:
//   flock, ofd  one descriptor per THREAD. Both lock an open file
//               description (OFD), and a descriptor inherited across fork
//               shares its parent's: two processes (or threads) using one
//               OFD would both "hold" the lock. Per-thread descriptors make
//               every thread its own owner, so these locks exclude threads
//               and processes alike (kExcludesThreads). A cache inherited
//               by fork is recognised (pid changed) and dropped.
//   fcntl       one descriptor per PROCESS, kept open. POSIX record locks
//               belong to the process: two threads of one process both get
//               the lock (kExcludesThreads = false -- use it only between
//               processes), and closing ANY descriptor of the file releases
//               every lock the process holds on it, so it must never close
//               one while the lock may be held. An inherited descriptor is
//               fine (the locks themselves are not inherited).
//
// Protocol: the kernel's. lock() blocks in flock(LOCK_EX) / F_SETLKW /
// F_OFD_SETLKW (a signal's EINTR is retried); try_lock is the non-blocking
// call (LOCK_NB, F_SETLK, F_OFD_SETLK). The kernel has no timed variant:
// try_lock_until polls try_lock, sleeping 50 µs doubling to 2 ms between
// tries, never past the deadline -- so a timed waiter is not queued and a
// release is noticed up to 2 ms late.
//
// Owner death: SURVIVED, NOT reported. The kernel drops a process's locks
// when its last descriptor of the file closes, which death does; the next
// locker just gets the lock (kSurvivesOwnerDeath, !kReportsOwnerDeath) --
// nothing tells it the previous holder died mid-section. Caveat (flock, ofd):
// a child forked while its parent had the file open inherits the parent's
// descriptor until its own first use of the lock; a parent killed holding
// the lock meanwhile is released only when that child closes it (uses the
// lock, or exits).
//
// Lifecycle: FileLock() makes a private directory (mkdtemp, mode 0700)
// $TMPDIR/mpkit.<pid>.lock.XXXXXX (TMPDIR unset: /tmp) with the file `lock`
// in it; the creating process's destructor removes both (a forked child's
// copy never does; a killed creator leaves them). FileLock(path) locks an
// existing or new file at `path` and never removes it. Not valid as zero
// bytes; not trivially destructible (it owns the file), unlike the other
// locks. The destructor also closes the calling thread's (and, for fcntl,
// the process's) descriptor; other threads' descriptors close when they
// exit.
//
// Contract (beyond lock.hpp's)
//   Throws: std::system_error naming the call and the path ("open
//           /tmp/mpkit.12.lock.x/lock", "flock ..."); fcntl's F_SETLKW may
//           fail with EDEADLK when the kernel sees a deadlock between
//           processes; std::invalid_argument for a path longer than kMaxPath - 1.
//   Thread safety: as lock.hpp, except that fcntl does not exclude threads.
//
// Memory ordering: the kernel's: a lock call that succeeds after another
// process's unlock sees everything that process wrote before it (both are
// system calls on the same lock; TSan is told so with __tsan_acquire/release,
// as it cannot see it).

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "mpkit/locking/lock.hpp"

namespace mpkit::locking {

enum class FileLockKind : std::uint32_t {
  kFlock,  ///< flock(2): per open file description
  kFcntl,  ///< fcntl(2) F_SETLKW: POSIX record lock, per process
  kOfd,    ///< fcntl(2) F_OFD_SETLKW: per open file description
};

namespace detail {

inline constexpr std::size_t kFileLockMaxPath = 256;

/// The shared part of a file lock: plain bytes, the same in every process.
struct FileLockState {
  std::uint64_t id = 0;       ///< unique: creator pid << 32 | a counter; keys the fd caches
  pid_t creator = 0;          ///< the process whose destructor removes the file
  std::uint32_t owns_dir = 0; ///< 1: path lies in a private directory we made
  char path[kFileLockMaxPath] = {};
};
static_assert(std::is_standard_layout_v<FileLockState> && std::is_trivially_copyable_v<FileLockState>);

void file_lock_create_private(FileLockState& state);
void file_lock_use_path(FileLockState& state, std::string_view path);
void file_lock_destroy(FileLockState& state) noexcept;
void file_lock_lock(FileLockState& state, FileLockKind kind);
[[nodiscard]] bool file_lock_try(FileLockState& state, FileLockKind kind);
[[nodiscard]] bool file_lock_until(FileLockState& state, FileLockKind kind, Deadline deadline);
void file_lock_unlock(FileLockState& state, FileLockKind kind) noexcept;

constexpr std::string_view file_lock_name(FileLockKind kind) {
  return kind == FileLockKind::kFlock ? "flock" : kind == FileLockKind::kFcntl ? "fcntl" : "ofd";
}

}  // namespace detail

template <FileLockKind K>
class FileLock : public detail::TimedLock<FileLock<K>> {
 public:
  static constexpr std::string_view kName = detail::file_lock_name(K);
  static constexpr bool kSurvivesOwnerDeath = true;
  static constexpr bool kSurvivesWaiterDeath = true;  // the kernel drops a killed waiter's request
  static constexpr bool kReportsOwnerDeath = false;
  static constexpr bool kExcludesThreads = K != FileLockKind::kFcntl;
  static constexpr bool kValidAsZeroBytes = false;
  static constexpr bool kSleeps = true;
  static constexpr std::size_t kMaxPath = detail::kFileLockMaxPath;

  /// A fresh file in a private temporary directory (removed by our destructor).
  FileLock() { detail::file_lock_create_private(state_); }
  /// The file at `path`, created if missing, never removed.
  explicit FileLock(std::string_view path) { detail::file_lock_use_path(state_, path); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  FileLock(FileLock&&) = delete;
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() { detail::file_lock_destroy(state_); }

  void lock() { detail::file_lock_lock(state_, K); }
  [[nodiscard]] bool try_lock() { return detail::file_lock_try(state_, K); }
  [[nodiscard]] bool try_lock_until(Deadline deadline) {
    return detail::file_lock_until(state_, K, deadline);
  }
  void unlock() noexcept { detail::file_lock_unlock(state_, K); }

  /// The locked file.
  [[nodiscard]] std::string_view path() const noexcept { return state_.path; }

 private:
  detail::FileLockState state_;
};

using FlockLock = FileLock<FileLockKind::kFlock>;
using FcntlLock = FileLock<FileLockKind::kFcntl>;
using OfdLock = FileLock<FileLockKind::kOfd>;

static_assert(std::is_standard_layout_v<FlockLock>, "a file lock lives in shared memory: standard layout");

}  // namespace mpkit::locking
