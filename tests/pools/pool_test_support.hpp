#pragma once

// Helpers for the pool tests: options with a worker count, the children of
// this process (from /proc, zombies included), this process's /dev/shm
// segments, and the sanitizer switch that scales stress tests down
// (test_support.hpp's kSanitized).

#include <dirent.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "mpkit/pools/options.hpp"
#include "test_support.hpp"

namespace mpkit::test {

inline constexpr bool kPoolsSanitized = kSanitized;

inline PoolOptions with_workers(std::size_t workers) {
  PoolOptions options;
  options.workers = workers;
  return options;
}

struct ProcInfo {
  pid_t pid = 0;
  char state = '?';
};

/// Processes whose parent is `parent` (state 'Z' for a zombie).
inline std::vector<ProcInfo> children_of(pid_t parent) {
  std::vector<ProcInfo> children;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return children;
  while (dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat("/proc/" + name + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = '?';
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) children.push_back({static_cast<pid_t>(std::stoi(name)), state});
  }
  ::closedir(dir);
  return children;
}

/// Names in /dev/shm made by this process (mpkit.<pid>.*).
inline std::vector<std::string> my_segments() {
  std::vector<std::string> names;
  const std::string prefix = "mpkit." + std::to_string(::getpid()) + ".";
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return names;
  while (dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.rfind(prefix, 0) == 0) names.push_back(name);
  }
  ::closedir(dir);
  return names;
}

/// Whether `pid` names a live (non-zombie) process.
inline bool process_running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

}  // namespace mpkit::test
