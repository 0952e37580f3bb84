#include "mpkit/pi/experiments/python_pi.hpp"

#include <unistd.h>

#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

#include "mpkit/ipc/experiments/program.hpp"
#include "mpkit/pi/kernels.hpp"

#ifndef MPKIT_PI_PYTHON_DIR
#define MPKIT_PI_PYTHON_DIR "pi/experiments/python"
#endif

namespace mpkit {
namespace {

constexpr int kMissingNumpyExit = 3;  // pi_numpy.py's exit status without numpy

struct ScriptRun {
  std::vector<double> seconds;
  std::vector<double> estimates;
  std::string version;
  ProgramResult output;
  std::string error;  // empty when the script ran and exited 0
};

ScriptRun run_script(const PythonPiConfig& config, const std::string& python, const std::string& script,
                     const std::string& mode, unsigned workers, std::uint64_t darts) {
  const std::string dir = config.script_dir.empty() ? MPKIT_PI_PYTHON_DIR : config.script_dir;
  ScriptRun run;
  run.output = run_program({python, dir + "/" + script, "--mode", mode, "--workers", std::to_string(workers),
                            "--darts", std::to_string(darts), "--repeats", std::to_string(config.repeats),
                            "--seed", std::to_string(config.seed)},
                           "", config.timeout);
  if (!run.output.exited_ok()) run.error = run.output.describe(python, config.timeout);
  std::istringstream lines(run.output.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string word;
    words >> word;
    if (word == "version") {
      std::getline(words, run.version);
      if (!run.version.empty() && run.version.front() == ' ') run.version.erase(0, 1);
    } else if (word == "run") {
      double seconds = 0;
      double estimate = 0;
      if (words >> seconds >> estimate) {
        run.seconds.push_back(seconds);
        run.estimates.push_back(estimate);
      }
    }
  }
  return run;
}

}  // namespace

PythonPi run_python_pi(const PythonPiConfig& config, const std::function<void(std::string_view)>& progress) {
  if (config.repeats == 0) throw std::invalid_argument("PythonPiConfig: repeats must be at least 1 (got 0)");
  if (config.lists_darts == 0 || config.numpy_darts == 0) {
    throw std::invalid_argument("PythonPiConfig: lists_darts and numpy_darts must be at least 1");
  }
  for (const unsigned w : config.workers) {
    if (w == 0) throw std::invalid_argument("PythonPiConfig: workers must be at least 1 (got 0)");
  }
  PythonPi result;
  struct Script {
    const char* kernel;
    const char* file;
    std::uint64_t darts;
  };
  std::vector<Script> scripts;
  if (config.lists) scripts.push_back({"lists", "pi_lists.py", config.lists_darts});
  if (config.numpy) scripts.push_back({"numpy", "pi_numpy.py", config.numpy_darts});
  std::vector<std::string> modes;
  if (config.processes) modes.emplace_back("processes");
  if (config.threads) modes.emplace_back("threads");

  for (const Script& script : scripts) {
    std::string python = config.python;
    bool reported = false;
    for (const std::string& mode : modes) {
      bool gave_up = false;
      for (const unsigned workers : config.workers) {
        if (progress) progress("python " + std::string(script.kernel) + " " + mode + " " + std::to_string(workers));
        ScriptRun run = run_script(config, python, script.file, mode, workers, script.darts);
        if (run.output.exit_code == kMissingNumpyExit && python != "/usr/bin/python3" &&
            ::access("/usr/bin/python3", X_OK) == 0) {
          // The interpreter on PATH (a pyenv, a venv) lacks numpy; Debian's
          // python3-numpy belongs to /usr/bin/python3.
          python = "/usr/bin/python3";
          run = run_script(config, python, script.file, mode, workers, script.darts);
        }
        if (!run.error.empty()) {
          std::string why = run.error;
          if (run.output.exit_code == kMissingNumpyExit) {
            why = "numpy is missing (Debian package python3-numpy)";
          } else if (run.output.exit_code == -1 && run.output.out.empty() &&
                     why.find("could not be started") != std::string::npos) {
            why += " (Debian package python3)";
          }
          result.notes.push_back("python " + std::string(script.kernel) + ": not measured: " + why);
          gave_up = true;
          break;
        }
        if (!reported) {
          result.notes.push_back("python " + std::string(script.kernel) + ": " + python + ", Python " + run.version);
          reported = true;
        }
        Measurement row;
        row.experiment = "pi";
        row.variant = "python-" + mode;
        row.workers = workers;
        row.params = {{"kernel", std::string(script.kernel)},
                      {"darts", static_cast<std::int64_t>(script.darts)},
                      {"seed", static_cast<std::int64_t>(config.seed)},
                      {"reseed", std::string("per-block")}};
        row.repeats = static_cast<unsigned>(run.seconds.size());
        if (row.repeats > 0) {
          row.seconds = summarize(run.seconds);
          const double estimate = run.estimates.front();
          const double error = std::abs(estimate - std::numbers::pi);
          row.metrics = {{"estimate", estimate},
                         {"abs_error", error},
                         {"std_errors", error / pi_standard_error(script.darts)},
                         {"darts_per_s", static_cast<double>(script.darts) / row.seconds.median}};
          row.correct = row.repeats == config.repeats && error <= 6 * pi_standard_error(script.darts);
        }
        result.rows.push_back(std::move(row));
      }
      if (gave_up) break;
    }
  }
  return result;
}

}  // namespace mpkit
