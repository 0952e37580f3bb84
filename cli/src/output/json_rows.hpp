#pragma once

// JSON Lines in ARCHITECTURE.md's one row shape, for every experiment:
//
//   {"experiment": ..., "variant": ..., "workers": N, "params": {...},
//    "repeats": N, "seconds": {"min": s, "median": s, "max": s},
//    "metrics": {...}, "correct": bool,
//    "machine": {"cpu": ..., "cores": nproc, "kernel": ...}}
//
// Keys keep this order (nlohmann::ordered_json); params and metrics keep the
// order the experiment gave them. A non-finite number is written as null.

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "mpkit/ipc/experiments/machine.hpp"
#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit::cli {

/// What every row records about the host.
struct MachineSummary {
  std::string cpu;
  unsigned cores = 0;  ///< nproc: CPUs this process may use
  std::string kernel;
};

[[nodiscard]] MachineSummary machine_summary(const MachineInfo& info);

[[nodiscard]] nlohmann::ordered_json row_json(const Measurement& row, const MachineSummary& machine);

/// Writes rows to a file it creates or truncates, one JSON object per line,
/// flushed after each row so a crash later loses nothing already measured.
class JsonLinesWriter {
 public:
  /// Throws UsageError naming `option` ("--json") if `path` cannot be opened.
  JsonLinesWriter(const std::string& path, const std::string& option, MachineSummary machine);

  /// Throws UsageError naming the option if the write fails (/dev/full, a
  /// full disk): the FILE given cannot take the rows.
  void write(const Measurement& row);

  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::string option_;
  MachineSummary machine_;
  std::ofstream out_;
};

}  // namespace mpkit::cli
