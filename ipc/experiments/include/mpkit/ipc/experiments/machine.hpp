#pragma once

// MachineInfo: what this host can do, for reports and for judging results
// (ARCHITECTURE.md, "Measurement conventions": record nproc in every output).
//
// Every field is best-effort: a file that is missing or unreadable (another
// kernel, a container without /sys) leaves its field empty or 0; reading
// never throws because a report without one figure beats no report.
//
// Thread safety: machine_info() may be called from any thread; it opens one
// perf event on the calling thread and closes it again.
//
// Example
//   const mpkit::MachineInfo m = mpkit::machine_info();
//   std::printf("%s, %u of %u cores\n", m.cpu_model.c_str(), m.cores_available, m.logical_cores);

#include <cstdint>
#include <string>
#include <vector>

namespace mpkit {

/// One cache as /sys/devices/system/cpu/cpu0/cache/index<N> describes it.
struct CacheInfo {
  unsigned level = 0;             ///< 1, 2, 3
  std::string type;               ///< "Data", "Instruction", "Unified"
  std::uint64_t size_bytes = 0;
  unsigned line_size = 0;         ///< coherency_line_size, bytes
  unsigned ways = 0;              ///< ways_of_associativity (0: unknown)
  std::string shared_cpu_list;    ///< CPUs sharing it, e.g. "0-1"
};

struct MachineInfo {
  std::string cpu_model;          ///< /proc/cpuinfo "model name"
  unsigned logical_cores = 0;     ///< CPUs online (sysconf)
  unsigned cores_available = 0;   ///< CPUs this process may run on (sched_getaffinity): nproc
  std::vector<CacheInfo> caches;  ///< cpu0's caches, by index
  std::string kernel;             ///< uname: "<sysname> <release> <machine>"
  std::uint64_t mem_total_bytes = 0;      ///< /proc/meminfo MemTotal
  std::uint64_t mem_available_bytes = 0;  ///< /proc/meminfo MemAvailable
  std::uint64_t dev_shm_total_bytes = 0;  ///< statvfs("/dev/shm")
  std::uint64_t dev_shm_free_bytes = 0;   ///< space an unprivileged user can still use
  std::string thp_enabled;        ///< the [bracketed] choice in .../transparent_hugepage/enabled
  std::string thp_shmem_enabled;  ///< same for shmem_enabled
  bool perf_hw_counters = false;  ///< perf_event_open(PERF_COUNT_HW_INSTRUCTIONS) on self works
  std::string perf_note;          ///< why not (errno, perf_event_paranoid), or "ok"
};

/// Reads the machine report. Never throws for a missing source.
[[nodiscard]] MachineInfo machine_info();

}  // namespace mpkit
