#pragma once

// ExperimentReport: what one experiment hands back to the CLI, whether run
// alone (`mpkit sync`) or in the suite (`mpkit run`): its rows, its tables,
// its notes (ratios, warnings), and the standalone command that reproduces it.

#include <string>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"
#include "output/table.hpp"

namespace mpkit::cli {

struct TitledTable {
  std::string title;  ///< one line above the table
  Table table;
};

struct ExperimentReport {
  std::string name;          ///< "sync"
  std::string summary;       ///< one line: what was measured
  std::string command_line;  ///< e.g. "mpkit sync --repeat 5 --round-trips 20000"
  std::vector<Measurement> rows;
  std::vector<TitledTable> tables;
  std::vector<std::string> notes;  ///< ratio lines and warnings, one per line
  double wall_seconds = 0;         ///< how long the whole experiment took
};

/// Tables (titles as "title:" lines in plain style, bold in Markdown) then
/// the notes as a list. Ends with '\n'.
[[nodiscard]] std::string render_body(const ExperimentReport& report, TableStyle style);

/// Which columns of a Measurement a table shows, and their headers.
struct RowColumns {
  std::vector<std::pair<std::string, std::string>> params;   ///< {key, header}
  std::vector<std::pair<std::string, std::string>> metrics;  ///< {key, header}, formatted by unit
};

/// One line per row: variant, the chosen params, workers, seconds median /
/// min / max, the chosen metrics, and "yes"/"NO" for correct.
[[nodiscard]] Table rows_table(const std::vector<Measurement>& rows, const RowColumns& columns);

/// A parameter value as a table shows it.
[[nodiscard]] std::string param_text(const ParamValue& value);

}  // namespace mpkit::cli
