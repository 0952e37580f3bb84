#include <linux/perf_event.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "mpkit/ipc/experiments/machine.hpp"
#include "mpkit/ipc/experiments/pinning.hpp"

namespace mpkit {
namespace {

// Every reader returns an empty/absent value instead of throwing: the report
// is best-effort by contract.

std::optional<std::string> read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\n");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t\n");
  return s.substr(first, last - first + 1);
}

template <class Int>
Int parse_int(std::string_view s) {
  s = trim(s);
  Int value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc{} ? value : Int{0};
}

// sysfs cache sizes read "32K", "1024K", "32M".
std::uint64_t parse_size(std::string_view s) {
  s = trim(s);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{}) return 0;
  switch (end == s.data() + s.size() ? '\0' : *end) {
    case 'K': return value << 10U;
    case 'M': return value << 20U;
    case 'G': return value << 30U;
    default: return value;
  }
}

// "always [madvise] never" -> "madvise".
std::string bracketed_choice(const std::string& path) {
  const auto line = read_first_line(path);
  if (!line) return {};
  const auto open = line->find('[');
  const auto close = line->find(']', open);
  if (open == std::string::npos || close == std::string::npos) return {};
  return line->substr(open + 1, close - open - 1);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return std::string(trim(std::string_view(line).substr(colon + 1)));
    }
  }
  return {};
}

std::vector<CacheInfo> caches() {
  std::vector<CacheInfo> result;
  // index0..indexN are contiguous; the first missing one ends the list.
  for (int index = 0;; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    const auto level = read_first_line(dir + "level");
    if (!level) break;
    CacheInfo cache;
    cache.level = parse_int<unsigned>(*level);
    cache.type = read_first_line(dir + "type").value_or("");
    cache.size_bytes = parse_size(read_first_line(dir + "size").value_or(""));
    cache.line_size = parse_int<unsigned>(read_first_line(dir + "coherency_line_size").value_or(""));
    cache.ways = parse_int<unsigned>(read_first_line(dir + "ways_of_associativity").value_or(""));
    cache.shared_cpu_list = read_first_line(dir + "shared_cpu_list").value_or("");
    result.push_back(std::move(cache));
  }
  return result;
}

// /proc/meminfo lines read "MemTotal:       16318412 kB".
void read_meminfo(MachineInfo& info) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string_view key = std::string_view(line).substr(0, colon);
    std::istringstream rest(line.substr(colon + 1));
    std::uint64_t kib = 0;
    if (!(rest >> kib)) continue;
    if (key == "MemTotal") info.mem_total_bytes = kib * 1024;
    if (key == "MemAvailable") info.mem_available_bytes = kib * 1024;
  }
}

void read_dev_shm(MachineInfo& info) {
  struct statvfs fs {};
  if (::statvfs("/dev/shm", &fs) != 0) return;
  info.dev_shm_total_bytes = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
  info.dev_shm_free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

std::string kernel() {
  utsname names{};
  if (::uname(&names) != 0) return {};
  return std::string(names.sysname) + " " + names.release + " " + names.machine;
}

unsigned cores_available() { return static_cast<unsigned>(allowed_cpus().size()); }

// Opens (and closes) a user-space instruction counter on this thread: the
// cheapest test of whether hardware counters exist here. VMs often expose
// none (ENOENT), and perf_event_paranoid > 2 forbids even this (EACCES).
void probe_perf(MachineInfo& info) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = PERF_COUNT_HW_INSTRUCTIONS;
  attr.disabled = 1;
  attr.exclude_kernel = 1;  // allowed at perf_event_paranoid <= 2
  attr.exclude_hv = 1;
  const long fd = ::syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0UL);
  if (fd >= 0) {
    ::close(static_cast<int>(fd));
    info.perf_hw_counters = true;
    info.perf_note = "ok";
    return;
  }
  const int error = errno;
  std::string detail = std::string("perf_event_open: ") + std::strerror(error);
  if (const auto paranoid = read_first_line("/proc/sys/kernel/perf_event_paranoid")) {
    detail += "; perf_event_paranoid=" + std::string(trim(*paranoid));
  }
  if (error == ENOENT || error == EOPNOTSUPP) {
    info.perf_note = "no hardware counters exposed, e.g. a VM (" + detail + ")";
  } else if (error == EACCES || error == EPERM) {
    info.perf_note = "not permitted (" + detail + ")";
  } else {
    info.perf_note = detail;
  }
}

}  // namespace

MachineInfo machine_info() {
  MachineInfo info;
  info.cpu_model = cpu_model();
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  info.logical_cores = online > 0 ? static_cast<unsigned>(online) : 0;
  info.cores_available = cores_available();
  info.caches = caches();
  info.kernel = kernel();
  read_meminfo(info);
  read_dev_shm(info);
  info.thp_enabled = bracketed_choice("/sys/kernel/mm/transparent_hugepage/enabled");
  info.thp_shmem_enabled = bracketed_choice("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  probe_perf(info);
  return info;
}

}  // namespace mpkit
