// The `mpkit pool` experiment (see pool_experiment.hpp).

#include "mpkit/pools/experiments/pool_experiment.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mpkit/ipc/experiments/repeats.hpp"
#include "mpkit/ipc/experiments/parallel_ceiling.hpp"
#include "mpkit/pools/pool.hpp"

namespace mpkit {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::array<std::string_view, 7> kParts = {"startup", "overhead", "submit", "ceiling",
                                                    "sweep",   "chunksize", "chunks"};

// The submit part: the apply_async loop of a new user -- kSubmits tasks that
// sleep kSubmitSleep each, on kSubmitWorkers workers; ideal time
// kSubmits x kSubmitSleep / kSubmitWorkers.
constexpr int kSubmits = 80;
constexpr auto kSubmitSleep = std::chrono::milliseconds(5);
constexpr unsigned kSubmitWorkers = 4;
constexpr int kRoundTrips = 2000;  // submit(noop).get() round trips per repeat

// CPU time of the calling thread (the one driving the pool), in seconds.
double thread_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int sleep_task(int x) {
  std::this_thread::sleep_for(kSubmitSleep);
  return x;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int noop(int x) { return x; }

bool wants(const PoolExperimentConfig& config, std::string_view part) {
  return config.parts.empty() || std::find(config.parts.begin(), config.parts.end(), part) != config.parts.end();
}

PoolOptions with_workers(unsigned workers) {
  PoolOptions options;
  options.workers = workers;
  return options;
}

std::size_t count_true(const std::vector<bool>& flags) {
  return static_cast<std::size_t>(std::count(flags.begin(), flags.end(), true));
}

struct Candidates {
  std::vector<std::uint64_t> numbers;
  std::size_t primes = 0;  // the serial answer
  Samples serial_seconds;
};

template <class Pool>
Measurement overhead_row(const PoolExperimentConfig& config, const char* variant, std::uint64_t inputs,
                         bool chunksize_one) {
  std::vector<int> in(static_cast<std::size_t>(inputs));
  std::iota(in.begin(), in.end(), 0);
  Measurement row;
  row.experiment = "pool";
  row.variant = variant;
  row.workers = config.overhead_workers;
  row.params = {{"part", std::string("overhead")},
                {"inputs", static_cast<std::int64_t>(inputs)},
                {"chunksize", chunksize_one ? std::string("1") : std::string("default")}};
  row.correct = true;
  Samples runs;
  Pool pool(with_workers(config.overhead_workers));
  (void)pool.map(&noop, std::vector<int>{1, 2}, 1);  // the workers are up
  for (unsigned r = 0; r < config.repeats; ++r) {
    const auto start = Clock::now();
    const std::vector<int> out = chunksize_one ? pool.map(&noop, in, 1) : pool.map(&noop, in);
    runs.add(seconds_since(start));
    row.correct = row.correct && out == in;
  }
  row.repeats = config.repeats;
  row.seconds = runs.summary();
  row.metrics = {{"tasks_per_s", static_cast<double>(inputs) / row.seconds.median}};
  return row;
}

Measurement prime_row(const PoolExperimentConfig& config, const Candidates& candidates, unsigned workers,
                      std::uint64_t chunksize, const std::string& part, std::int64_t chunks_param) {
  Measurement row;
  row.experiment = "pool";
  row.variant = "process";
  row.workers = workers;
  row.params = {{"part", part},
                {"range_begin", static_cast<std::int64_t>(config.range_begin)},
                {"range_end", static_cast<std::int64_t>(config.range_end)},
                {"chunksize", chunksize == 0 ? std::string("default") : std::to_string(chunksize)},
                {"shuffled", config.shuffle}};
  if (chunks_param > 0) row.params.emplace_back("chunks", chunks_param);
  row.correct = true;
  Samples runs;
  Samples parent_cpu;
  ProcessPool pool(with_workers(workers));
  (void)pool.map(&noop, std::vector<int>{1, 2}, 1);
  std::size_t primes = 0;
  for (unsigned r = 0; r < config.repeats; ++r) {
    const double cpu_before = thread_cpu_seconds();
    const auto start = Clock::now();
    const auto flags = chunksize == 0 ? pool.map(&pool_experiment_is_prime, candidates.numbers)
                                      : pool.map(&pool_experiment_is_prime, candidates.numbers, chunksize);
    runs.add(seconds_since(start));
    parent_cpu.add(thread_cpu_seconds() - cpu_before);
    primes = count_true(flags);
    row.correct = row.correct && primes == candidates.primes;
  }
  row.repeats = config.repeats;
  row.seconds = runs.summary();
  const double speedup = candidates.serial_seconds.median() / row.seconds.median;
  const std::size_t n = candidates.numbers.size();
  const std::size_t size = chunksize == 0 ? (n + 4 * workers - 1) / (4 * workers) : chunksize;
  row.metrics = {{"speedup", speedup},
                 {"efficiency", speedup / workers},
                 {"primes", static_cast<double>(primes)},
                 {"chunks", static_cast<double>((n + size - 1) / size)},
                 {"parent_cpu_s", parent_cpu.median()},
                 {"parent_cpu_pct", 100.0 * parent_cpu.median() / row.seconds.median}};
  return row;
}

// The submit part's two rows: kSubmits sleeping tasks submitted one by one
// (seconds from the first submit to the last get; ratio_to_ideal, and
// workers_used: how many workers ran at least one), and submit(noop).get()
// round trips (rtt_us_p50 / p99).
template <class Pool>
std::vector<Measurement> submit_rows(const PoolExperimentConfig& config, const char* variant) {
  Measurement spread;
  spread.experiment = "pool";
  spread.variant = variant;
  spread.workers = kSubmitWorkers;
  spread.params = {{"part", std::string("submit")},
                   {"mode", std::string("sleeping-submits")},
                   {"submits", static_cast<std::int64_t>(kSubmits)},
                   {"sleep_ms", static_cast<std::int64_t>(kSubmitSleep.count())}};
  spread.correct = true;
  Samples runs;
  Samples used;
  {
    Pool pool(with_workers(kSubmitWorkers));
    (void)pool.map(&noop, std::vector<int>{1, 2, 3, 4}, 1);
    for (unsigned r = 0; r < config.repeats; ++r) {
      const auto start = Clock::now();
      std::vector<AsyncResult<int>> pending;
      for (int i = 0; i < kSubmits; ++i) pending.push_back(pool.submit(&sleep_task, i));
      for (int i = 0; i < kSubmits; ++i) {
        spread.correct = spread.correct && pending[static_cast<std::size_t>(i)].get(std::chrono::seconds(60)) == i;
      }
      runs.add(seconds_since(start));
    }
  }
  const double ideal = std::chrono::duration<double>(kSubmitSleep).count() * kSubmits / kSubmitWorkers;
  spread.repeats = config.repeats;
  spread.seconds = runs.summary();
  spread.metrics = {{"ideal_s", ideal}, {"ratio_to_ideal", spread.seconds.median / ideal}};

  Measurement trips;
  trips.experiment = "pool";
  trips.variant = variant;
  trips.workers = 2;
  trips.params = {{"part", std::string("submit")},
                  {"mode", std::string("round-trip")},
                  {"round_trips", static_cast<std::int64_t>(kRoundTrips)}};
  trips.correct = true;
  Samples seconds;
  Samples rtt_us;
  {
    Pool pool(with_workers(2));
    (void)pool.submit(&noop, 1).get();
    for (unsigned r = 0; r < config.repeats; ++r) {
      const auto start = Clock::now();
      for (int i = 0; i < kRoundTrips; ++i) {
        const auto one = Clock::now();
        trips.correct = trips.correct && pool.submit(&noop, i).get() == i;
        rtt_us.add(std::chrono::duration<double, std::micro>(Clock::now() - one).count());
      }
      seconds.add(seconds_since(start));
    }
  }
  trips.repeats = config.repeats;
  trips.seconds = seconds.summary();
  trips.metrics = {{"rtt_us_p50", rtt_us.percentile(50)}, {"rtt_us_p99", rtt_us.percentile(99)}};
  return {spread, trips};
}

template <class Pool>
Measurement startup_row(const PoolExperimentConfig& config, const char* variant) {
  Measurement row;
  row.experiment = "pool";
  row.variant = variant;
  row.workers = 2;
  row.params = {{"part", std::string("startup")}};
  Samples runs;
  row.correct = true;
  for (unsigned r = 0; r < config.startup_runs; ++r) {
    const auto start = Clock::now();
    Pool pool(with_workers(2));
    pool.close();
    row.correct = pool.join(std::chrono::seconds(10)) && row.correct;
    runs.add(seconds_since(start));
  }
  row.repeats = config.startup_runs;
  row.seconds = runs.summary();
  row.metrics = {{"start_join_us_p50", row.seconds.median * 1e6}};
  return row;
}

}  // namespace

std::span<const std::string_view> pool_experiment_parts() noexcept { return kParts; }

bool pool_experiment_is_prime(std::uint64_t n) noexcept {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  const auto limit = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(n))) + 1;
  for (std::uint64_t i = 3; i <= limit && i < n; i += 2) {
    if (n % i == 0) return false;
  }
  return true;
}

void validate_pool_experiment_config(const PoolExperimentConfig& config) {
  if (config.repeats == 0) throw std::invalid_argument("pool experiment: repeats must be at least 1");
  if (config.range_end <= config.range_begin) {
    throw std::invalid_argument("pool experiment: range_end must be above range_begin");
  }
  if (config.overhead_workers == 0) throw std::invalid_argument("pool experiment: overhead_workers must be at least 1");
  for (std::uint64_t n : config.overhead_inputs) {
    if (n == 0) throw std::invalid_argument("pool experiment: overhead_inputs must be at least 1");
  }
  for (unsigned w : config.sweep_workers) {
    if (w == 0) throw std::invalid_argument("pool experiment: sweep_workers must be at least 1");
  }
  if (config.max_chunks == 0) throw std::invalid_argument("pool experiment: max_chunks must be at least 1");
  if (config.startup_runs == 0) throw std::invalid_argument("pool experiment: startup_runs must be at least 1");
  for (const std::string& part : config.parts) {
    if (std::find(kParts.begin(), kParts.end(), part) == kParts.end()) {
      throw std::invalid_argument("pool experiment: unknown part '" + part + "'");
    }
  }
}

std::vector<Measurement> run_pool_experiment(const PoolExperimentConfig& config,
                                             const std::function<void(std::string_view)>& progress) {
  validate_pool_experiment_config(config);
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  std::vector<Measurement> rows;
  const auto cores = static_cast<unsigned>(pools::detail::available_cores());

  // First, while this process is as small as it will be: every fork copies,
  // and every exit tears down, the parent's page tables (fork + exit + wait
  // cost 120 us at 4 MB resident and 250 us at 16 MB here), so after the
  // other parts the same pool measured 1.1-1.5 ms instead of 0.8 ms. Python's
  // figure comes from a fresh interpreter too.
  if (wants(config, "startup")) {
    say("startup: construct + close + join, 2 workers");
    rows.push_back(startup_row<ProcessPool>(config, "process"));
    rows.push_back(startup_row<ThreadPool>(config, "thread"));
  }

  if (wants(config, "overhead")) {
    for (std::uint64_t inputs : config.overhead_inputs) {
      for (bool one : {true, false}) {
        say("overhead: " + std::to_string(inputs) + " no-op tasks, chunksize " + (one ? "1" : "default"));
        rows.push_back(overhead_row<ProcessPool>(config, "process", inputs, one));
        rows.push_back(overhead_row<ThreadPool>(config, "thread", inputs, one));
      }
    }
  }

  if (wants(config, "submit")) {
    say("submit: 80 sleeping tasks one by one, and submit().get() round trips");
    for (Measurement& row : submit_rows<ProcessPool>(config, "process")) rows.push_back(std::move(row));
    for (Measurement& row : submit_rows<ThreadPool>(config, "thread")) rows.push_back(std::move(row));
  }

  const bool primes_needed = wants(config, "ceiling") || wants(config, "sweep") ||
                             wants(config, "chunksize") || wants(config, "chunks");
  Candidates candidates;
  if (primes_needed) {
    candidates.numbers.resize(static_cast<std::size_t>(config.range_end - config.range_begin));
    std::iota(candidates.numbers.begin(), candidates.numbers.end(), config.range_begin);
    if (config.shuffle) std::shuffle(candidates.numbers.begin(), candidates.numbers.end(), std::mt19937_64(42));
    say("serial trial division over the range");
    for (unsigned r = 0; r < config.repeats; ++r) {
      const auto start = Clock::now();
      std::size_t primes = 0;
      for (std::uint64_t n : candidates.numbers) primes += pool_experiment_is_prime(n) ? 1 : 0;
      candidates.serial_seconds.add(seconds_since(start));
      candidates.primes = primes;
    }
  }

  // The machine's own ceiling, measured here, between the serial runs and
  // the pool's: N processes each doing the serial job, no pool, no IPC.
  std::vector<Measurement> ceiling;
  if (wants(config, "ceiling")) {
    CeilingConfig ceiling_config;
    ceiling_config.experiment = "pool";
    ceiling_config.repeats = config.repeats;
    ceiling_config.work = [&candidates] {
      std::size_t primes = 0;
      for (std::uint64_t n : candidates.numbers) primes += pool_experiment_is_prime(n) ? 1 : 0;
      return primes == candidates.primes;
    };
    ceiling = measure_parallel_ceiling(ceiling_config, [&](std::string_view step) { say(std::string(step)); });
    for (Measurement& row : ceiling) row.params.emplace_back("part", std::string("ceiling"));
    rows.insert(rows.end(), ceiling.begin(), ceiling.end());
  }
  // A pool row's speedup as a fraction of the ceiling's at the same count.
  const auto against_ceiling = [&ceiling](Measurement& row) {
    const std::optional<double> speedup = find_metric(row, "speedup");
    for (const Measurement& c : ceiling) {
      const std::optional<double> top = find_metric(c, "speedup");
      if (c.workers == row.workers && speedup && top && *top > 0) {
        row.metrics.emplace_back("of_ceiling", *speedup / *top);
      }
    }
  };

  if (wants(config, "sweep")) {
    Measurement serial;
    serial.experiment = "pool";
    serial.variant = "serial";
    serial.workers = 1;
    serial.params = {{"part", std::string("sweep")},
                     {"range_begin", static_cast<std::int64_t>(config.range_begin)},
                     {"range_end", static_cast<std::int64_t>(config.range_end)},
                     {"chunksize", std::string("none")},
                     {"shuffled", config.shuffle}};
    serial.repeats = config.repeats;
    serial.seconds = candidates.serial_seconds.summary();
    serial.metrics = {{"speedup", 1.0}, {"efficiency", 1.0}, {"primes", static_cast<double>(candidates.primes)}};
    serial.correct = true;
    rows.push_back(serial);
    std::vector<unsigned> sweep = config.sweep_workers;
    if (sweep.empty()) {
      for (unsigned w = 1; w <= 2 * cores; ++w) sweep.push_back(w);
    }
    for (unsigned w : sweep) {
      say("sweep: " + std::to_string(w) + " workers");
      rows.push_back(prime_row(config, candidates, w, 0, "sweep", 0));
      against_ceiling(rows.back());
    }
  }

  if (wants(config, "chunksize")) {
    for (std::uint64_t chunksize : config.chunksizes) {
      say("chunksize: " + (chunksize == 0 ? std::string("default") : std::to_string(chunksize)));
      rows.push_back(prime_row(config, candidates, cores, chunksize, "chunksize", 0));
      against_ceiling(rows.back());
    }
  }

  if (wants(config, "chunks")) {
    const std::uint64_t n = candidates.numbers.size();
    for (unsigned k = 1; k <= config.max_chunks; ++k) {
      say("chunks: " + std::to_string(k));
      rows.push_back(prime_row(config, candidates, cores, (n + k - 1) / k, "chunks", k));
    }
  }


  return rows;
}

}  // namespace mpkit
