#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <climits>
#include <memory>
#include <string>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/segment_name.hpp"
#include "mpkit/ipc/this_process.hpp"

namespace mpkit {
namespace {

// relaxed: only uniqueness matters, not ordering with other memory.
std::atomic<std::uint64_t> g_next_segment{0};

void check_tag(std::string_view tag, std::string_view full_for_message) {
  if (tag.empty()) {
    throw_invalid_argument("SegmentName: empty tag in '" + std::string(full_for_message) + "'");
  }
  if (tag.find('/') != std::string_view::npos) {
    throw_invalid_argument("SegmentName: '" + std::string(full_for_message) +
                           "' has an inner '/' (POSIX shm names allow only the leading one)");
  }
  if (tag.find('\0') != std::string_view::npos) {
    throw_invalid_argument("SegmentName: tag holds a NUL byte");
  }
}

std::string compose(pid_t pid, std::string_view tag) {
  std::string name(kSegmentPrefix);
  name += std::to_string(pid);
  name += '.';
  name += tag;
  // shm_open maps "/x" to /dev/shm/x: the part after '/' is one file name.
  if (name.size() - 1 > NAME_MAX) {
    throw_invalid_argument("SegmentName: '" + name.substr(0, 40) + "...' is " +
                           std::to_string(name.size() - 1) + " characters after '/', more than NAME_MAX (" +
                           std::to_string(NAME_MAX) + ")");
  }
  return name;
}

struct DirCloser {
  void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};

// "/mpkit.<pid>.<tag>" -> pid, or nullopt when the name has no such prefix.
std::optional<pid_t> parse_pid(std::string_view name, std::string_view* tag_out) {
  if (!name.starts_with(kSegmentPrefix)) return std::nullopt;
  name.remove_prefix(kSegmentPrefix.size());
  const auto dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos) return std::nullopt;
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + dot, pid);
  if (ec != std::errc{} || end != name.data() + dot || pid <= 0) return std::nullopt;
  if (tag_out != nullptr) *tag_out = name.substr(dot + 1);
  return pid;
}

}  // namespace

SegmentName SegmentName::unique() {
  const auto n = g_next_segment.fetch_add(1, std::memory_order_relaxed);
  const pid_t pid = current_pid();
  return SegmentName(compose(pid, std::to_string(n)), pid);
}

SegmentName SegmentName::with_tag(std::string_view tag) {
  check_tag(tag, tag);
  const pid_t pid = current_pid();
  return SegmentName(compose(pid, tag), pid);
}

SegmentName SegmentName::parse(std::string_view full_name) {
  std::string_view tag;
  const auto pid = parse_pid(full_name, &tag);
  if (!pid) {
    throw_invalid_argument("SegmentName: '" + std::string(full_name) +
                           "' does not start with \"/mpkit.<pid>.\"");
  }
  check_tag(tag, full_name);
  return SegmentName(compose(*pid, tag), *pid);
}

bool process_is_gone(pid_t pid) noexcept {
  if (pid <= 0) return true;
  // A pidfd becomes readable once the whole thread group has exited, which
  // is exactly "can never act again": a zombie reads as gone, while a
  // process whose main thread exited but whose other threads still run (its
  // /proc/<pid>/stat says Z) reads as alive.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd watch{pidfd, POLLIN, 0};
    const bool exited = ::poll(&watch, 1, 0) > 0 && (watch.revents & POLLIN) != 0;
    ::close(pidfd);
    return exited;
  }
  if (errno == ESRCH) return true;
  // No pidfd (EMFILE, EINVAL for a pid that is not a process, an old kernel):
  // only a definite "no such process" counts as gone; anything uncertain
  // counts as alive, because "gone" lets a waiter take over a live owner's lock.
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

std::vector<StaleSegment> find_stale_segments(std::string_view shm_dir) {
  std::vector<StaleSegment> stale;
  const std::string dir(shm_dir);
  const std::unique_ptr<DIR, DirCloser> handle(::opendir(dir.c_str()));
  if (!handle) throw_errno("opendir " + dir);
  while (const dirent* entry = ::readdir(handle.get())) {
    const std::string name = std::string("/") + entry->d_name;
    const auto pid = parse_pid(name, nullptr);
    if (!pid || !process_is_gone(*pid)) continue;
    struct stat info {};
    const std::string path = dir + name;
    if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    stale.push_back({name, *pid, static_cast<std::uint64_t>(info.st_size)});
  }
  return stale;
}

std::vector<StaleSegment> remove_stale_segments(std::string_view shm_dir) {
  std::vector<StaleSegment> removed;
  for (auto& segment : find_stale_segments(shm_dir)) {
    const std::string path = std::string(shm_dir) + segment.name;
    if (::unlink(path.c_str()) == 0) {
      removed.push_back(std::move(segment));
    } else if (errno != ENOENT) {
      throw_errno("unlink " + path);
    }
  }
  return removed;
}

}  // namespace mpkit
