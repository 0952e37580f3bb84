// File locks: the private directory, the per-thread / per-process descriptor
// caches, and the three kinds of kernel call. The protocol is in
// file_lock.hpp.

#include "mpkit/locking/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/this_process.hpp"

// ThreadSanitizer cannot see that the kernel orders a lock after the
// previous unlock; tell it (file_lock.hpp, "Memory ordering").
#if defined(__SANITIZE_THREAD__)
#define MPKIT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPKIT_TSAN 1
#endif
#endif
#ifdef MPKIT_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace mpkit::locking::detail {
namespace {

void tell_tsan_acquired([[maybe_unused]] FileLockState& state) noexcept {
#ifdef MPKIT_TSAN
  __tsan_acquire(&state);
#endif
}

void tell_tsan_releasing([[maybe_unused]] FileLockState& state) noexcept {
#ifdef MPKIT_TSAN
  __tsan_release(&state);
#endif
}

std::atomic<std::uint32_t> g_next_id{1};

std::uint64_t new_id() noexcept {
  // relaxed: only uniqueness matters.
  const std::uint32_t n = g_next_id.fetch_add(1, std::memory_order_relaxed);
  return (static_cast<std::uint64_t>(current_pid()) << 32) | n;
}

struct FdEntry {
  std::uint64_t id;
  int fd;
};

// flock and ofd: one descriptor per thread. A copy inherited by fork has the
// parent's pid: its descriptors share the parent's open file descriptions,
// so they are closed (that never releases the parent's lock: the parent
// still refers to the description) and the cache starts over.
struct ThreadFds {
  pid_t pid = 0;
  std::vector<FdEntry> entries;

  ThreadFds() = default;
  ThreadFds(const ThreadFds&) = delete;
  ThreadFds& operator=(const ThreadFds&) = delete;
  ~ThreadFds() {
    if (pid == current_pid()) {
      for (const FdEntry& entry : entries) ::close(entry.fd);
    }
  }
  void adopt_this_process() noexcept {
    const pid_t self = current_pid();
    if (pid == self) return;
    for (const FdEntry& entry : entries) ::close(entry.fd);
    entries.clear();
    pid = self;
  }
};
thread_local ThreadFds t_fds;

// fcntl: one descriptor per process, never closed while the lock lives
// (closing any descriptor of the file drops the process's record locks).
// Descriptors inherited by fork are kept: record locks are not inherited,
// and the descriptor still names the file. The mutex is process-local; fork
// only from a process without threads of its own (ARCHITECTURE.md rule 3).
struct ProcessFds {
  std::mutex mutex;
  std::vector<FdEntry> entries;
};
ProcessFds& process_fds() {
  static auto* fds = new ProcessFds;  // never destroyed: used until exit
  return *fds;
}

int open_existing(const FileLockState& state) {
  const int fd = ::open(state.path, O_RDWR | O_CLOEXEC);
  if (fd < 0) throw_errno(std::string("open ") + state.path);
  return fd;
}

std::vector<FdEntry>::iterator find_entry(std::vector<FdEntry>& entries, std::uint64_t id) {
  return std::find_if(entries.begin(), entries.end(), [id](const FdEntry& e) { return e.id == id; });
}

// The calling thread's (flock, ofd) or process's (fcntl) descriptor.
int descriptor(const FileLockState& state, FileLockKind kind) {
  if (kind == FileLockKind::kFcntl) {
    ProcessFds& fds = process_fds();
    std::scoped_lock guard(fds.mutex);
    if (auto it = find_entry(fds.entries, state.id); it != fds.entries.end()) return it->fd;
    const int fd = open_existing(state);
    fds.entries.push_back({state.id, fd});
    return fd;
  }
  ThreadFds& fds = t_fds;
  fds.adopt_this_process();
  if (auto it = find_entry(fds.entries, state.id); it != fds.entries.end()) return it->fd;
  const int fd = open_existing(state);
  fds.entries.push_back({state.id, fd});
  return fd;
}

// The descriptor a holder locked with; -1 if this thread never opened one.
int held_descriptor(const FileLockState& state, FileLockKind kind) noexcept {
  if (kind == FileLockKind::kFcntl) {
    ProcessFds& fds = process_fds();
    std::scoped_lock guard(fds.mutex);
    auto it = find_entry(fds.entries, state.id);
    return it != fds.entries.end() ? it->fd : -1;
  }
  ThreadFds& fds = t_fds;
  if (fds.pid != current_pid()) return -1;
  auto it = find_entry(fds.entries, state.id);
  return it != fds.entries.end() ? it->fd : -1;
}

struct ::flock whole_file(short type) noexcept {
  struct ::flock range {};
  range.l_type = type;
  range.l_whence = SEEK_SET;
  range.l_start = 0;
  range.l_len = 0;  // to the end of the file, however it grows
  range.l_pid = 0;  // required for OFD locks
  return range;
}

// One kernel call, retried on EINTR. true: done; false: busy (non-blocking).
bool lock_call(const FileLockState& state, FileLockKind kind, int fd, bool block) {
  for (;;) {
    int rc = 0;
    const char* call = nullptr;
    if (kind == FileLockKind::kFlock) {
      rc = ::flock(fd, LOCK_EX | (block ? 0 : LOCK_NB));
      call = "flock";
    } else {
      struct ::flock range = whole_file(F_WRLCK);
      const bool ofd = kind == FileLockKind::kOfd;
      const int command = ofd ? (block ? F_OFD_SETLKW : F_OFD_SETLK) : (block ? F_SETLKW : F_SETLK);
      rc = ::fcntl(fd, command, &range);
      call = ofd ? "fcntl F_OFD_SETLK(W)" : "fcntl F_SETLK(W)";
    }
    if (rc == 0) return true;
    const int error = errno;
    if (error == EINTR) continue;
    if (!block && (error == EWOULDBLOCK || error == EAGAIN || error == EACCES)) return false;
    throw_system_error(error, std::string(call) + " " + state.path);
  }
}

}  // namespace

void file_lock_create_private(FileLockState& state) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  dir += "/mpkit." + std::to_string(current_pid()) + ".lock.XXXXXX";
  if (dir.size() + sizeof("/lock") > kFileLockMaxPath) {
    throw_invalid_argument("FileLock: TMPDIR too long for a lock path (" + dir + ")");
  }
  if (::mkdtemp(dir.data()) == nullptr) throw_errno("mkdtemp " + dir);
  const std::string path = dir + "/lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    ::rmdir(dir.c_str());
    throw_system_error(error, "open " + path);
  }
  ::close(fd);
  state.id = new_id();
  state.creator = current_pid();
  state.owns_dir = 1;
  std::memcpy(state.path, path.c_str(), path.size() + 1);
}

void file_lock_use_path(FileLockState& state, std::string_view path) {
  if (path.empty() || path.size() >= kFileLockMaxPath) {
    throw_invalid_argument("FileLock: path must be 1.." + std::to_string(kFileLockMaxPath - 1) +
                           " characters (got " + std::to_string(path.size()) + ")");
  }
  const std::string p(path);
  const int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw_errno("open " + p);
  ::close(fd);
  state.id = new_id();
  state.creator = current_pid();
  state.owns_dir = 0;
  std::memcpy(state.path, p.c_str(), p.size() + 1);
}

void file_lock_destroy(FileLockState& state) noexcept {
  // Our own descriptors first (fcntl: the process's; flock, ofd: this thread's).
  {
    ProcessFds& fds = process_fds();
    std::scoped_lock guard(fds.mutex);
    if (auto it = find_entry(fds.entries, state.id); it != fds.entries.end()) {
      ::close(it->fd);
      fds.entries.erase(it);
    }
  }
  ThreadFds& fds = t_fds;
  if (fds.pid == current_pid()) {
    if (auto it = find_entry(fds.entries, state.id); it != fds.entries.end()) {
      ::close(it->fd);
      fds.entries.erase(it);
    }
  }
  if (state.owns_dir != 0 && state.creator == current_pid()) {
    ::unlink(state.path);
    std::string dir(state.path);
    dir.resize(dir.rfind('/'));
    ::rmdir(dir.c_str());
  }
}

void file_lock_lock(FileLockState& state, FileLockKind kind) {
  (void)lock_call(state, kind, descriptor(state, kind), /*block=*/true);
  tell_tsan_acquired(state);
}

bool file_lock_try(FileLockState& state, FileLockKind kind) {
  if (!lock_call(state, kind, descriptor(state, kind), /*block=*/false)) return false;
  tell_tsan_acquired(state);
  return true;
}

bool file_lock_until(FileLockState& state, FileLockKind kind, Deadline deadline) {
  using std::chrono::microseconds;
  const int fd = descriptor(state, kind);
  for (microseconds gap{50};; gap = std::min(gap * 2, microseconds{2000})) {
    if (lock_call(state, kind, fd, /*block=*/false)) {
      tell_tsan_acquired(state);
      return true;
    }
    const Deadline now = Clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(gap, deadline - now));
  }
}

void file_lock_unlock(FileLockState& state, FileLockKind kind) noexcept {
  const int fd = held_descriptor(state, kind);
  if (fd < 0) return;  // this thread never locked it: nothing of ours to release
  tell_tsan_releasing(state);
  if (kind == FileLockKind::kFlock) {
    (void)::flock(fd, LOCK_UN);
  } else {
    struct ::flock range = whole_file(F_UNLCK);
    (void)::fcntl(fd, kind == FileLockKind::kOfd ? F_OFD_SETLK : F_SETLK, &range);
  }
}

}  // namespace mpkit::locking::detail
