#include "mpkit/shared_arrays/mapping_memory.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "mpkit/ipc/error.hpp"

namespace mpkit {
namespace {

std::string smaps_path(pid_t pid) { return "/proc/" + std::to_string(pid) + "/smaps"; }

// The whole file: smaps is generated as it is read, so read it in one go
// (a few hundred KiB at most for the processes mpkit measures).
std::string read_smaps(pid_t pid) {
  const std::string path = smaps_path(pid);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      throw_system_error(ESRCH, "memory_of: no process " + std::to_string(pid) + " (" + path + ")");
    }
    throw_errno("memory_of: open " + path);
  }
  std::string text;
  char buffer[16384];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      // ESRCH: the process exited while we read.
      throw_system_error(error, "memory_of: read " + path);
    }
    text.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  if (text.empty()) {
    // A zombie (or a process mid-exit) has released its address space.
    throw_system_error(ESRCH, "memory_of: process " + std::to_string(pid) +
                                  " has no mappings left (it has exited)");
  }
  return text;
}

struct Vma {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::string_view path;
};

std::optional<std::uintptr_t> parse_hex(std::string_view text) {
  std::uintptr_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// "7f12a0000000-7f12a4000000 rw-s 00000000 00:01 1234   /dev/zero (deleted)"
std::optional<Vma> parse_vma_line(std::string_view line) {
  const std::size_t dash = line.find('-');
  const std::size_t space = line.find(' ');
  if (dash == std::string_view::npos || space == std::string_view::npos || dash > space) {
    return std::nullopt;
  }
  const auto start = parse_hex(line.substr(0, dash));
  const auto end = parse_hex(line.substr(dash + 1, space - dash - 1));
  if (!start || !end) return std::nullopt;
  // Skip perms, offset, dev, inode; the rest (after spaces) is the path.
  std::size_t at = space;
  for (int field = 0; field < 4; ++field) {
    at = line.find_first_not_of(' ', at);
    if (at == std::string_view::npos) return Vma{*start, *end, {}};
    at = line.find(' ', at);
    if (at == std::string_view::npos) return Vma{*start, *end, {}};
  }
  at = line.find_first_not_of(' ', at);
  return Vma{*start, *end, at == std::string_view::npos ? std::string_view{} : line.substr(at)};
}

// "Pss:                 1024 kB" -> adds to the field it names.
void add_field(MappingMemory& m, std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  const std::string_view key = line.substr(0, colon);
  std::uint64_t* field = nullptr;
  if (key == "Size")
    field = &m.size_bytes;
  else if (key == "Rss")
    field = &m.rss_bytes;
  else if (key == "Pss")
    field = &m.pss_bytes;
  else if (key == "Shared_Clean")
    field = &m.shared_clean_bytes;
  else if (key == "Shared_Dirty")
    field = &m.shared_dirty_bytes;
  else if (key == "Private_Clean")
    field = &m.private_clean_bytes;
  else if (key == "Private_Dirty")
    field = &m.private_dirty_bytes;
  else if (key == "Swap")
    field = &m.swap_bytes;
  if (field == nullptr) return;
  const std::size_t digits = line.find_first_of("0123456789", colon);
  if (digits == std::string_view::npos) return;
  std::uint64_t kib = 0;
  std::from_chars(line.data() + digits, line.data() + line.size(), kib);
  *field += kib * 1024;
}

// Sums every VMA of `pid` for which `matches` holds; nullopt if none does.
std::optional<MappingMemory> sum_matching(pid_t pid,
                                          const std::function<bool(const Vma&)>& matches) {
  const std::string text = read_smaps(pid);
  MappingMemory total;
  total.pid = pid;
  bool inside = false;  // the lines below belong to a matching VMA
  std::string_view rest = text;
  while (!rest.empty()) {
    const std::size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
    if (const auto vma = parse_vma_line(line)) {
      inside = matches(*vma);
      if (inside) {
        if (total.vmas == 0 || vma->start < total.start) total.start = vma->start;
        if (vma->end > total.end) total.end = vma->end;
        if (total.vmas == 0) total.path = std::string(vma->path);
        ++total.vmas;
      }
      continue;
    }
    if (inside) add_field(total, line);
  }
  if (total.vmas == 0) return std::nullopt;
  return total;
}

std::string hex(const void* address) {
  char text[2 + 2 * sizeof(void*) + 1];
  std::snprintf(text, sizeof text, "%p", address);
  return text;
}

}  // namespace

MappingMemory memory_of(pid_t pid, const void* address) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  const auto found = sum_matching(pid, [at](const Vma& v) { return v.start <= at && at < v.end; });
  if (!found) {
    throw MappingNotFoundError("memory_of: no mapping of process " + std::to_string(pid) +
                               " contains " + hex(address));
  }
  return *found;
}

MappingMemory memory_of(pid_t pid, const void* address, std::size_t length) {
  if (length == 0) throw_invalid_argument("memory_of: length must be > 0 (got 0)");
  const auto begin = reinterpret_cast<std::uintptr_t>(address);
  const std::uintptr_t end = begin + length;
  const auto found =
      sum_matching(pid, [begin, end](const Vma& v) { return v.start < end && begin < v.end; });
  if (!found) {
    throw MappingNotFoundError("memory_of: no mapping of process " + std::to_string(pid) +
                               " overlaps " + hex(address) + " + " + std::to_string(length) +
                               " bytes");
  }
  return *found;
}

MappingMemory memory_of(pid_t pid, const SharedMemory& memory) {
  if (memory.data() == nullptr)
    throw_invalid_argument("memory_of: memory maps nothing (moved from)");
  return memory_of(pid, memory.data(), memory.size());
}

MappingMemory memory_of(pid_t pid, const SegmentName& name) {
  const std::string path = "/dev/shm" + name.str();
  const std::string deleted = path + " (deleted)";
  const auto found =
      sum_matching(pid, [&](const Vma& v) { return v.path == path || v.path == deleted; });
  if (!found) {
    throw MappingNotFoundError("memory_of: process " + std::to_string(pid) + " does not map " +
                               name.str() + " (" + path + ")");
  }
  return *found;
}

}  // namespace mpkit
