#include "mpkit/pools/experiments/python_baseline.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "mpkit/ipc/error.hpp"

extern char** environ;

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
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return {{}, "pipe2: " + std::string(std::strerror(errno))};
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_adddup2(&files, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&files, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = {"python3",
                                   "-c",
                                   kScript,
                                   std::to_string(config.workers),
                                   std::to_string(config.chunk1_inputs),
                                   std::to_string(config.default_inputs),
                                   std::to_string(config.repeats),
                                   std::to_string(config.startup_runs)};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, "python3", &files, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    return {{}, "python3 could not be started: " + std::string(std::strerror(rc))};
  }
  Output out;
  const auto give_up = std::chrono::steady_clock::now() + config.timeout;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      out.error = "python3 did not finish within " + std::to_string(config.timeout.count()) + " s";
      break;
    }
    pollfd fd{pipe_fds[0], POLLIN, 0};
    const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline check above ends it
    const ssize_t got = ::read(pipe_fds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // end of file: python3 closed its stdout
    out.text.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (out.error.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    out.error = WIFEXITED(status) ? "python3 exited with status " + std::to_string(WEXITSTATUS(status))
                                  : "python3 was killed by signal " + std::to_string(WTERMSIG(status));
  }
  return out;
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
  std::map<std::string, std::vector<double>> runs;
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
    runs[name].push_back(seconds);
    all_complete = all_complete && complete == "True";
  }
  result.error = out.error;

  const auto finish = [&](Measurement row, const std::string& key, unsigned expected_runs) {
    const std::vector<double>& samples = runs[key];
    row.repeats = static_cast<unsigned>(samples.size());
    row.correct = out.error.empty() && all_complete && row.repeats == expected_runs;
    if (!samples.empty()) row.seconds = summarize(samples);
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
