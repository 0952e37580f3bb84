#pragma once

// The body every experiment subcommand shares: open --json first (a bad path
// fails in a second, not after the whole run), run with a progress line,
// print the summary and tables, then write the rows.

#include <functional>
#include <string>

#include "options.hpp"
#include "output/progress.hpp"
#include "report.hpp"

namespace mpkit::cli {

/// Runs `measure` for the experiment `name`; returns the exit code (0).
int run_experiment_command(const std::string& name, const ExperimentOptions& options,
                           const std::function<ExperimentReport(Progress&)>& measure);

}  // namespace mpkit::cli
