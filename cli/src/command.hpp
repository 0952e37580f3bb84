#pragma once

// Command: one `mpkit` subcommand, defined in its own file under commands/
// and listed once in commands/registry.cpp (the order of `mpkit --help` and
// of `mpkit run`).
//
// An experiment also provides `quick`: its run at the suite's quick scale,
// which `mpkit run` calls. Giving a command `quick` is all it takes to put
// it in the suite.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "output/progress.hpp"
#include "report.hpp"

namespace mpkit::cli {

/// What runs once the command line parsed, given the words of the command
/// line (argv); returns the exit code. Throws UsageError for bad input found
/// late (exit 2), anything else for a runtime failure (exit 1).
using Action = std::function<int(const std::vector<std::string>& argv)>;

/// What `mpkit run` hands an experiment.
struct SuiteContext {
  std::optional<unsigned> repeat;  ///< `mpkit run --repeat N`: overrides the quick default
  Progress* progress = nullptr;    ///< never null; prefix already set to "<name>: "
  std::filesystem::path out_dir;   ///< the suite's output directory (plots go there)
};

struct Command {
  std::string name;
  std::string summary;  ///< one line in `mpkit --help`
  /// Adds options, the long help (footer) and examples to `sub`; returns the
  /// action, which reads the option values the setup bound.
  std::function<Action(CLI::App& sub)> setup;
  /// Experiments only: the quick-scale run of `mpkit run`.
  std::function<ExperimentReport(const SuiteContext&)> quick;
};

/// Every command, in display order.
[[nodiscard]] const std::vector<Command>& all_commands();

}  // namespace mpkit::cli
