#pragma once

// Names of POSIX shared-memory segments, and the sweep behind `mpkit clean`.
//
// Every segment mpkit creates is named "/mpkit.<pid>.<tag>", where <pid> is
// the creating process (ARCHITECTURE.md rule 6). A process killed before it could
// unlink leaves its segments in /dev/shm; the pid in the name lets a later
// sweep tell whose they were and whether that process is still alive.
//
// Thread safety: all functions may be called from any thread.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mpkit {

inline constexpr std::string_view kSegmentPrefix = "/mpkit.";

/// A validated segment name "/mpkit.<pid>.<tag>".
class SegmentName {
 public:
  /// "/mpkit.<this pid>.<n>" with n unique within this process.
  [[nodiscard]] static SegmentName unique();

  /// "/mpkit.<this pid>.<tag>". Throws std::invalid_argument if `tag` is
  /// empty, holds '/' or NUL, or makes the name longer than NAME_MAX.
  [[nodiscard]] static SegmentName with_tag(std::string_view tag);

  /// Parses a full name, as passed to an unrelated process. Throws
  /// std::invalid_argument naming the problem: missing "/mpkit.<pid>." prefix,
  /// an inner '/', an empty tag, longer than NAME_MAX.
  [[nodiscard]] static SegmentName parse(std::string_view full_name);

  [[nodiscard]] const std::string& str() const noexcept { return name_; }
  [[nodiscard]] pid_t creator_pid() const noexcept { return creator_; }

  friend bool operator==(const SegmentName&, const SegmentName&) = default;

 private:
  SegmentName(std::string name, pid_t creator) : name_(std::move(name)), creator_(creator) {}
  std::string name_;
  pid_t creator_;
};

/// True if `pid` names no running process: it does not exist, or every one of
/// its threads has exited (a zombie, not yet reaped: it can never act again).
/// Anything uncertain (no pidfd, out of descriptors) answers false. A pid in
/// another pid namespace looks gone; a reused pid looks alive.
[[nodiscard]] bool process_is_gone(pid_t pid) noexcept;

struct StaleSegment {
  std::string name;      ///< "/mpkit.<pid>.<tag>"
  pid_t creator_pid;     ///< the dead creator
  std::uint64_t bytes;   ///< size of the segment
};

/// Segments under `shm_dir` whose name carries the mpkit prefix and whose
/// creator is gone. Names without a parsable pid are never reported.
[[nodiscard]] std::vector<StaleSegment> find_stale_segments(
    std::string_view shm_dir = "/dev/shm");

/// Unlinks every stale segment found by find_stale_segments and returns those
/// it removed (a segment unlinked concurrently by someone else is skipped).
std::vector<StaleSegment> remove_stale_segments(std::string_view shm_dir = "/dev/shm");

}  // namespace mpkit
