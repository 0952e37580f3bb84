#include "experiment_command.hpp"

#include <optional>

#include <fmt/format.h>

#include "mpkit/ipc/experiments/machine.hpp"
#include "output/format.hpp"
#include "output/json_rows.hpp"

namespace mpkit::cli {

int run_experiment_command(const std::string& name, const ExperimentOptions& options,
                           const std::function<ExperimentReport(Progress&)>& measure) {
  std::optional<JsonLinesWriter> writer;
  if (!options.json_path.empty()) {
    writer.emplace(options.json_path, "--json", machine_summary(machine_info()));
  }
  Progress progress(options.progress);
  progress.set_prefix(name + ": ");
  const ExperimentReport report = measure(progress);
  progress.clear();

  // The rows first: a FILE that cannot take them fails the command before
  // the table is printed, not after.
  if (writer) {
    for (const Measurement& row : report.rows) writer->write(row);
  }
  fmt::print("{}; took {}\n\n{}", report.summary, human_seconds(report.wall_seconds),
             render_body(report, TableStyle::kPlain));
  return 0;
}

}  // namespace mpkit::cli
