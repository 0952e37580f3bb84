#pragma once

// Options every experiment subcommand shares, the validators that word their
// errors the way ARCHITECTURE.md asks ("--repeat: value 0 is out of range (must be
// >= 1)"), and UsageError: bad input found after parsing (exit code 2).

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace mpkit::cli {

/// Bad input to the CLI: main prints "mpkit: <what>" and exits with 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Accepts a whole number in [min, max]; the message names the bad value.
[[nodiscard]] CLI::Validator whole_number_in(std::uint64_t min,
                                             std::uint64_t max = std::numeric_limits<unsigned>::max());

/// --json FILE, --repeat N, --progress.
struct ExperimentOptions {
  std::string json_path;  ///< empty: no JSON
  unsigned repeat = 5;
  bool progress = false;
};

/// Adds the shared options to `sub`; `options.repeat` holds the default.
void add_experiment_options(CLI::App& sub, ExperimentOptions& options);

/// Adds `--progress` alone (for commands that are not experiments).
void add_progress_option(CLI::App& sub, bool& progress);

/// Joins argv-like words into one shell-ready line (quoting only as needed).
[[nodiscard]] std::string command_line(const std::vector<std::string>& words);

}  // namespace mpkit::cli
