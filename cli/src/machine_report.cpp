#include "machine_report.hpp"

#include <cctype>

#include <fmt/format.h>

#include "output/format.hpp"

namespace mpkit::cli {
namespace {

// "L1d", "L1i", "L2", "L3": the names lscpu uses.
std::string cache_name(const CacheInfo& cache) {
  std::string name = fmt::format("L{}", cache.level);
  if (cache.type == "Data") name += 'd';
  if (cache.type == "Instruction") name += 'i';
  return name;
}

std::string or_unknown(const std::string& text) { return text.empty() ? "unknown" : text; }

}  // namespace

Table machine_table(const MachineInfo& info) {
  Table table({{"field"}, {"value"}});
  table.add_row({"cpu", or_unknown(info.cpu_model)});
  table.add_row({"cores", fmt::format("{} available to this process (nproc), {} online",
                                      info.cores_available, info.logical_cores)});
  for (const CacheInfo& cache : info.caches) {
    std::string text = fmt::format("{} {}, {} B lines", human_bytes(cache.size_bytes),
                                   cache.type, cache.line_size);
    if (cache.ways != 0) text += fmt::format(", {}-way", cache.ways);
    text += fmt::format(", shared by CPUs {}", or_unknown(cache.shared_cpu_list));
    table.add_row({cache_name(cache) + " cache", text});
  }
  table.add_row({"kernel", or_unknown(info.kernel)});
  table.add_row({"memory", fmt::format("{} total, {} available", human_bytes(info.mem_total_bytes),
                                       human_bytes(info.mem_available_bytes))});
  table.add_row({"/dev/shm", fmt::format("{} total, {} free", human_bytes(info.dev_shm_total_bytes),
                                         human_bytes(info.dev_shm_free_bytes))});
  table.add_row({"transparent huge pages", fmt::format("enabled: {}; shmem_enabled: {}",
                                                       or_unknown(info.thp_enabled),
                                                       or_unknown(info.thp_shmem_enabled))});
  table.add_row({"perf hardware counters",
                 info.perf_hw_counters ? "available" : "not available: " + or_unknown(info.perf_note)});
  return table;
}

Measurement machine_row(const MachineInfo& info, double seconds) {
  Measurement row;
  row.experiment = "info";
  row.variant = "machine";
  row.workers = 1;
  row.params = {
      {"cpu_model", info.cpu_model},
      {"logical_cores", static_cast<std::int64_t>(info.logical_cores)},
      {"cores_available", static_cast<std::int64_t>(info.cores_available)},
      {"kernel", info.kernel},
      {"thp_enabled", info.thp_enabled},
      {"thp_shmem_enabled", info.thp_shmem_enabled},
      {"perf_hw_counters", info.perf_hw_counters},
      {"perf_note", info.perf_note},
  };
  row.metrics = {
      {"mem_total_bytes", static_cast<double>(info.mem_total_bytes)},
      {"mem_available_bytes", static_cast<double>(info.mem_available_bytes)},
      {"dev_shm_total_bytes", static_cast<double>(info.dev_shm_total_bytes)},
      {"dev_shm_free_bytes", static_cast<double>(info.dev_shm_free_bytes)},
  };
  for (const CacheInfo& cache : info.caches) {
    // Keys are lower snake case like every other key: "cache_l1d_bytes".
    std::string name = cache_name(cache);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    row.params.emplace_back("cache_" + name + "_shared_cpus", cache.shared_cpu_list);
    row.metrics.emplace_back("cache_" + name + "_bytes", static_cast<double>(cache.size_bytes));
    row.metrics.emplace_back("cache_" + name + "_line_bytes", static_cast<double>(cache.line_size));
  }
  row.repeats = 1;
  row.seconds = {seconds, seconds, seconds};
  row.correct = true;
  return row;
}

}  // namespace mpkit::cli
