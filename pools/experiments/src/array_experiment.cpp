#include "mpkit/pools/experiments/array_experiment.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <optional>
#include <random>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/experiments/repeats.hpp"
#include "mpkit/pools/pool.hpp"
#include "mpkit/shared_arrays/mapping_memory.hpp"
#include "mpkit/shared_arrays/experiments/pid_fill.hpp"
#include "mpkit/shared_arrays/experiments/repeated_rows.hpp"
#include "mpkit/shared_arrays/shared_matrix.hpp"

namespace mpkit {
namespace {

using std::chrono::steady_clock;

// Bounds every map: not a timing assertion, only what stops a stuck worker
// from hanging the experiment.
constexpr auto kMapBudget = std::chrono::minutes(10);

// One row of the matrix as a task argument. The address is valid in every
// worker: the matrix is mapped (anonymous, shared) before the pool is built,
// so the fork server and each worker forked from it inherit the mapping at
// the same address. Trivially copyable, so it travels by memcpy.
struct RowRef {
  double* cells = nullptr;
  std::size_t cols = 0;
  std::uint64_t seed = 0;  // random fills only
};
static_assert(std::is_trivially_copyable_v<RowRef>);

std::vector<RowRef> row_refs(SharedMatrix<double>& matrix, std::uint64_t seed = 0) {
  std::vector<RowRef> refs(matrix.rows());
  for (std::size_t r = 0; r < matrix.rows(); ++r) refs[r] = {matrix.row(r).data(), matrix.cols(), seed};
  return refs;
}

void no_op_task(int /*unused*/) {}

void pid_fill_task(RowRef row) {
  if (!fill_row_with_pid({row.cells, row.cols}, ::getpid())) {
    throw std::runtime_error("the row no longer holds 42: done twice, or never filled");
  }
}

double seconds_of(steady_clock::time_point from, steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

void fill_random(std::span<double> row, std::mt19937_64& engine) {
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (double& v : row) v = uniform(engine);
}

// The worker's own stream, seeded on its first task of a given seed from
// (seed, worker index): unrelated to every other worker's (ARCHITECTURE.md rule 7).
void random_fill_task(RowRef row) {
  thread_local std::optional<std::pair<std::uint64_t, std::mt19937_64>> stream;
  if (!stream || stream->first != row.seed) {
    stream.emplace(row.seed, worker_stream(row.seed));
  }
  fill_random({row.cells, row.cols}, stream->second);
}

// The book's bug: one generator seeded in the parent before the pool is
// built; fork gives every worker a copy of the very same state. A global on
// purpose, because that is what fork copies.
std::mt19937_64 g_inherited_engine;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

void inherited_random_fill_task(RowRef row) { fill_random({row.cells, row.cols}, g_inherited_engine); }

PoolOptions pool_options(unsigned workers) {
  PoolOptions options;
  options.workers = workers;
  return options;
}

// Waits until each worker has run one task (the dispatch gives each idle
// worker one), so a timed map that follows does not include the workers' start.
// False if the pool could not do it.
bool start_workers(ProcessPool& pool) {
  try {
    // A vector, not std::views::iota: clang 14 cannot take libstdc++ 12's iota_view as a range.
    std::vector<int> one_each(pool.workers());
    std::iota(one_each.begin(), one_each.end(), 0);
    (void)pool.map(&no_op_task, one_each, 1, kMapBudget);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// Maps `task` over `refs`; the seconds it took, or nullopt if any task failed,
// a worker died or the budget ran out.
template <class Task>
std::optional<double> timed_map(ProcessPool& pool, Task task, const std::vector<RowRef>& refs,
                                std::size_t chunksize) {
  try {
    const auto start = steady_clock::now();
    (void)pool.map(task, refs, chunksize, kMapBudget);
    return seconds_of(start, steady_clock::now());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Samples of one row across the repeats.
struct Series {
  Repeats runs;
  void add(bool ok, double s) { add_checked(ok, true, s); }
  // A run that completed but produced a wrong answer: timed, and marked.
  void add_checked(bool completed, bool right, double s) {
    if (completed) {
      runs.add(s, right);
    } else {
      runs.fail();
    }
  }
  [[nodiscard]] double median() const { return runs.seconds().median_or(0.0); }
};

Measurement base_row(std::string variant, unsigned workers, const Series& series,
                     const ArrayConfig& config) {
  Measurement row;
  row.experiment = "array";
  row.variant = std::move(variant);
  row.workers = workers;
  row.params = {{"rows", static_cast<std::int64_t>(config.rows)},
                {"cols", static_cast<std::int64_t>(config.cols)},
                {"bytes", static_cast<std::int64_t>(config.rows * config.cols * sizeof(double))}};
  series.runs.fill(row);
  return row;
}

void add_memory(Measurement& row, const std::string& who, const MappingMemory& m) {
  row.metrics.emplace_back(who + "_rss_bytes", static_cast<double>(m.rss_bytes));
  row.metrics.emplace_back(who + "_pss_bytes", static_cast<double>(m.pss_bytes));
  row.metrics.emplace_back(who + "_private_bytes", static_cast<double>(m.private_bytes()));
}

// The mapping's memory in the parent and in each worker, read while all of
// them are alive; nullopt where /proc cannot be read (no proof rather than a
// wrong one).
struct MemoryProof {
  MappingMemory parent;
  std::vector<MappingMemory> workers;
};

std::optional<MemoryProof> memory_proof(const SharedMatrix<double>& matrix,
                                        const std::vector<pid_t>& worker_pids) {
  try {
    MemoryProof proof{memory_of(::getpid(), matrix.memory()), {}};
    for (const pid_t pid : worker_pids) proof.workers.push_back(memory_of(pid, matrix.memory()));
    return proof;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::size_t effective_chunksize(const ArrayConfig& config) {
  if (config.chunksize != 0) return config.chunksize;
  const std::size_t chunks = std::size_t{4} * config.workers;  // Python's default
  return (config.rows + chunks - 1) / chunks;
}

void check(const ArrayConfig& config) {
  if (config.rows == 0) throw_invalid_argument("ArrayConfig: rows must be >= 1 (got 0)");
  if (config.cols == 0) throw_invalid_argument("ArrayConfig: cols must be >= 1 (got 0)");
  if (config.workers == 0) throw_invalid_argument("ArrayConfig: workers must be >= 1 (got 0)");
  if (config.repeats == 0) throw_invalid_argument("ArrayConfig: repeats must be >= 1 (got 0)");
}

}  // namespace

ArrayConfig quick_array_config() {
  ArrayConfig config;
  config.rows = 1000;
  config.cols = 4000;
  config.repeats = 3;
  return config;
}

ArrayConfig default_array_config() {
  ArrayConfig config;
  config.cols = kBookCols;
  const std::uint64_t budget = shm_capacity().mem_available_bytes / 2;
  const std::uint64_t row_bytes = kBookCols * sizeof(double);
  config.rows =
      static_cast<std::size_t>(std::clamp<std::uint64_t>(budget / row_bytes, 1, kBookRows));
  return config;
}

std::vector<Measurement> run_array_experiment(
    const ArrayConfig& config, const std::function<void(std::string_view)>& progress) {
  check(config);
  auto matrix = SharedMatrix<double>::anonymous(config.rows, config.cols);  // size checks here
  matrix.prefault(Prefault::kPopulate);  // the parent maps every page once, before any timing
  const std::uint64_t seed =
      config.seed != 0 ? config.seed
                       : (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  const unsigned workers = config.workers;
  const std::size_t chunksize = effective_chunksize(config);
  const double bytes = static_cast<double>(matrix.size_bytes());
  const double values = static_cast<double>(matrix.size());
  const std::vector<RowRef> rows_only = row_refs(matrix);
  const std::vector<RowRef> rows_seeded = row_refs(matrix, seed);

  Series memset_series;
  Series pid_series;
  Series warm_series;
  Series serial_series;
  Series parallel_series;
  Series forgot_series;
  std::size_t distinct_pids = 0;
  std::uint64_t serial_repeats_seen = 0;
  std::uint64_t parallel_repeats_seen = 0;
  std::uint64_t forgot_repeats_seen = 0;
  std::optional<MemoryProof> proof;

  const auto say = [&](unsigned repeat, std::string_view what) {
    if (progress) {
      progress("repeat " + std::to_string(repeat + 1) + "/" + std::to_string(config.repeats) +
               ": " + std::string(what));
    }
  };
  // Round-robin: every variant once per repeat, so drift in the background
  // load spreads over all of them.
  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    say(repeat, "memset-1core");
    {
      const auto start = steady_clock::now();
      std::memset(matrix.data(), 0x5A + static_cast<int>(repeat % 16), matrix.size_bytes());
      memset_series.add(true, seconds_of(start, steady_clock::now()));
    }

    say(repeat, "pid-fill");
    // A fresh pool per repeat: the first map is the chapter's fill by new
    // workers, who map their rows' pages on first touch (fork does not copy
    // the page tables of a shared mapping); the second repeats it with the
    // same workers, pages mapped: bandwidth alone, as long-lived workers see
    // it.
    ProcessPool pool(pool_options(workers));
    {
      bool ok = start_workers(pool);
      std::optional<double> passes[2];
      for (std::optional<double>& pass : passes) {
        if (!ok) break;
        matrix.fill(kPidFillInitial);
        pass = timed_map(pool, &pid_fill_task, rows_only, chunksize);
        const std::vector<pid_t> pids = pool.worker_pids();
        const PidFillCheck verdict = verify_pid_fill(matrix.span(), matrix.cols(), pids);
        ok = pass.has_value() && verdict.ok();
        distinct_pids = verdict.distinct_pids;
      }
      pid_series.add_checked(passes[0].has_value(), ok, passes[0].value_or(0));
      warm_series.add_checked(passes[1].has_value(), ok, passes[1].value_or(0));
      // Every worker is alive and idle: the snapshot sees all sharers.
      if (ok) {
        if (auto snapshot = memory_proof(matrix, pool.worker_pids())) proof = std::move(snapshot);
      }
    }

    say(repeat, "random-serial");
    {
      std::mt19937_64 engine = stream_engine(seed, workers);  // a stream no worker uses
      const auto start = steady_clock::now();
      for (std::size_t r = 0; r < matrix.rows(); ++r) fill_random(matrix.row(r), engine);
      serial_series.add(true, seconds_of(start, steady_clock::now()));
      serial_repeats_seen = std::max(
          serial_repeats_seen, count_repeated_rows(matrix.data(), matrix.rows(), matrix.cols()));
    }

    say(repeat, "random-parallel");
    {
      const std::optional<double> seconds = timed_map(pool, &random_fill_task, rows_seeded, chunksize);
      const std::uint64_t repeated =
          count_repeated_rows(matrix.data(), matrix.rows(), matrix.cols());
      parallel_repeats_seen = std::max(parallel_repeats_seen, repeated);
      parallel_series.add_checked(seconds.has_value(), repeated == 0, seconds.value_or(0));
    }
    pool.terminate();

    if (config.forget_reseed) {
      say(repeat, "random-parallel-forgot-reseed");
      g_inherited_engine = stream_engine(seed, workers + 1);  // before the pool forks
      ProcessPool inherited(pool_options(workers));
      std::optional<double> seconds;
      if (start_workers(inherited)) {
        seconds = timed_map(inherited, &inherited_random_fill_task, rows_only, chunksize);
      }
      const std::uint64_t repeated =
          count_repeated_rows(matrix.data(), matrix.rows(), matrix.cols());
      forgot_repeats_seen = std::max(forgot_repeats_seen, repeated);
      // Timed even though wrong: correct = false says what is wrong.
      forgot_series.add_checked(seconds.has_value(), repeated == 0, seconds.value_or(0));
    }
  }

  std::vector<Measurement> rows;
  Measurement memset_row = base_row("memset-1core", 1, memset_series, config);
  const double memset_bandwidth = memset_series.median() > 0 ? bytes / memset_series.median() : 0;
  memset_row.metrics = {{"bytes_per_s", memset_bandwidth}};
  rows.push_back(std::move(memset_row));

  Measurement pid_row = base_row("pid-fill", workers, pid_series, config);
  if (pid_series.median() > 0) {
    const double bandwidth = bytes / pid_series.median();
    pid_row.metrics = {
        {"bytes_per_s", bandwidth},
        {"ratio_to_memset", memset_bandwidth > 0 ? bandwidth / memset_bandwidth : 0},
        {"distinct_pids", static_cast<double>(distinct_pids)},
        {"warm_bytes_per_s", warm_series.median() > 0 ? bytes / warm_series.median() : 0},
        {"warm_ratio_to_memset", warm_series.median() > 0 && memset_bandwidth > 0
                                     ? bytes / warm_series.median() / memset_bandwidth
                                     : 0},
        {"array_bytes", bytes}};
  }
  pid_row.params.emplace_back("chunksize", static_cast<std::int64_t>(chunksize));
  if (proof) {
    double pss_sum = static_cast<double>(proof->parent.pss_bytes);
    double private_max = 0;
    add_memory(pid_row, "parent", proof->parent);
    for (std::size_t k = 0; k < proof->workers.size(); ++k) {
      const MappingMemory& m = proof->workers[k];
      add_memory(pid_row, "worker" + std::to_string(k), m);
      pss_sum += static_cast<double>(m.pss_bytes);
      private_max = std::max(private_max, static_cast<double>(m.private_bytes()));
    }
    pid_row.metrics.emplace_back("pss_sum_bytes", pss_sum);
    pid_row.metrics.emplace_back("worker_private_fraction_max", private_max / bytes);
  }
  rows.push_back(std::move(pid_row));

  Measurement serial_row = base_row("random-serial", 1, serial_series, config);
  const double serial_rate = serial_series.median() > 0 ? values / serial_series.median() : 0;
  serial_row.metrics = {{"values_per_s", serial_rate},
                        {"repeated_rows", static_cast<double>(serial_repeats_seen)}};
  serial_row.correct = serial_row.correct && serial_repeats_seen == 0;
  rows.push_back(std::move(serial_row));

  const auto parallel_row = [&](std::string variant, const Series& series, std::uint64_t repeated,
                                bool reseed) {
    Measurement row = base_row(std::move(variant), workers, series, config);
    row.params.emplace_back("reseed", reseed);
    const double rate = series.median() > 0 ? values / series.median() : 0;
    row.metrics = {{"values_per_s", rate},
                   {"speedup_vs_serial", serial_rate > 0 ? rate / serial_rate : 0},
                   {"repeated_rows", static_cast<double>(repeated)}};
    row.correct = series.runs.correct() && repeated == 0;
    return row;
  };
  rows.push_back(parallel_row("random-parallel", parallel_series, parallel_repeats_seen, true));
  if (config.forget_reseed) {
    rows.push_back(
        parallel_row("random-parallel-forgot-reseed", forgot_series, forgot_repeats_seen, false));
  }
  return rows;
}

}  // namespace mpkit
