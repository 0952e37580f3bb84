#include "mpkit/pools/experiments/python_baseline.hpp"

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/experiments/program.hpp"
#include "mpkit/ipc/experiments/repeats.hpp"

namespace mpkit {
namespace {

// Prints "version <text>", then one "<name> <seconds>" line per timed run.
// argv: workers, chunk1 inputs, default inputs, repeats, startup runs.
constexpr const char* kScript = R"PY(
import multiprocessing as mp, sys, time
def noop(x):
    return x
if __name__ == "__main__":
    workers, n1, nd, repeats, starts = (int(a) for a in sys.argv[1:6])
    print("version", sys.version.split()[0], flush=True)
    with mp.Pool(workers) as pool:
        pool.map(noop, [1, 2], chunksize=1)
        for _ in range(repeats):
            t = time.perf_counter(); out = pool.map(noop, range(n1), chunksize=1)
            print("chunk1", time.perf_counter() - t, len(out) == n1, flush=True)
            t = time.perf_counter(); out = pool.map(noop, range(nd))
            print("default", time.perf_counter() - t, len(out) == nd, flush=True)
    for _ in range(starts):
        t = time.perf_counter(); pool = mp.Pool(2); pool.close(); pool.join()
        print("startup", time.perf_counter() - t, True, flush=True)
)PY";

struct Output {
  std::string text;
  std::string error;
};

// Runs python3 with the script, collecting stdout, within `timeout`.
Output run_python(const PythonBaselineConfig& config) {
  const ProgramResult result = run_program(
      {"python3", "-c", kScript, std::to_string(config.workers),
       std::to_string(config.chunk1_inputs), std::to_string(config.default_inputs),
       std::to_string(config.repeats), std::to_string(config.startup_runs)},
      "", config.timeout);
  return {result.out, result.describe("python3", config.timeout)};
}

Measurement base_row(const std::string& part) {
  Measurement row;
  row.experiment = "pool";
  row.variant = "python";
  row.params = {{"part", part}};
  return row;
}

}  // namespace

PythonBaseline run_python_pool_baseline(const PythonBaselineConfig& config) {
  if (config.repeats == 0) throw_invalid_argument("PythonBaselineConfig: repeats must be >= 1 (got 0)");
  if (config.workers == 0) throw_invalid_argument("PythonBaselineConfig: workers must be >= 1 (got 0)");
  if (config.chunk1_inputs == 0 || config.default_inputs == 0) {
    throw_invalid_argument("PythonBaselineConfig: chunk1_inputs and default_inputs must be >= 1");
  }
  if (config.startup_runs == 0) {
    throw_invalid_argument("PythonBaselineConfig: startup_runs must be >= 1 (got 0)");
  }
  const Output out = run_python(config);
  std::map<std::string, Samples> runs;
  bool all_complete = true;
  PythonBaseline result;
  std::istringstream lines(out.text);
  std::string name;
  while (lines >> name) {
    if (name == "version") {
      lines >> result.version;
      result.version = "Python " + result.version;
      continue;
    }
    double seconds = 0;
    std::string complete;
    if (!(lines >> seconds >> complete)) break;
    runs[name].add(seconds);
    all_complete = all_complete && complete == "True";
  }
  result.error = out.error;

  const auto finish = [&](Measurement row, const std::string& key, unsigned expected_runs) {
    const Samples& samples = runs[key];
    row.repeats = static_cast<unsigned>(samples.size());
    row.correct = out.error.empty() && all_complete && row.repeats == expected_runs;
    if (!samples.empty()) row.seconds = samples.summary();
    return row;
  };
  Measurement chunk1 = base_row("overhead");
  chunk1.workers = config.workers;
  chunk1.params.emplace_back("inputs", static_cast<std::int64_t>(config.chunk1_inputs));
  chunk1.params.emplace_back("chunksize", std::string("1"));
  chunk1 = finish(std::move(chunk1), "chunk1", config.repeats);
  if (chunk1.repeats > 0) {
    chunk1.metrics = {{"tasks_per_s", static_cast<double>(config.chunk1_inputs) / chunk1.seconds.median}};
  }
  Measurement by_default = base_row("overhead");
  by_default.workers = config.workers;
  by_default.params.emplace_back("inputs", static_cast<std::int64_t>(config.default_inputs));
  by_default.params.emplace_back("chunksize", std::string("default"));
  by_default = finish(std::move(by_default), "default", config.repeats);
  if (by_default.repeats > 0) {
    by_default.metrics = {
        {"tasks_per_s", static_cast<double>(config.default_inputs) / by_default.seconds.median}};
  }
  Measurement startup = base_row("startup");
  startup.workers = 2;
  startup = finish(std::move(startup), "startup", config.startup_runs);
  if (startup.repeats > 0) startup.metrics = {{"start_join_us_p50", startup.seconds.median * 1e6}};
  result.rows = {std::move(chunk1), std::move(by_default), std::move(startup)};
  return result;
}

}  // namespace mpkit
