#include "mpkit/shared_arrays/array_experiment.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/process.hpp"
#include "mpkit/ipc/shared_object.hpp"
#include "mpkit/shared_arrays/mapping_memory.hpp"
#include "mpkit/shared_arrays/pid_fill.hpp"
#include "mpkit/shared_arrays/shared_array.hpp"
#include "mpkit/shared_arrays/shared_matrix.hpp"

namespace mpkit {
namespace {

using std::chrono::steady_clock;

// Bounds on every wait: none is a timing assertion; they only stop a dead
// or stuck worker from hanging the experiment.
constexpr auto kStartTimeout = std::chrono::seconds(30);  // workers checking in
constexpr auto kWorkBudget = std::chrono::seconds(600);   // one parallel fill in all

// Worker exit codes (0: success).
constexpr int kWorkerTimedOut = 3;
constexpr int kWorkerRowNotInitial = 4;

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             steady_clock::now().time_since_epoch())
      .count();
}

// Protocol of one parallel fill of `passes` passes by the same workers. The
// parent creates the control block and the slots and forks the workers;
// each adds one to `ready` (release) and sleeps on `go`. For pass p (1, 2,
// ...) the parent prepares the matrix, takes the start time, stores go = p
// (release) and wakes them; worker k fills its rows, writes its finish time
// for the pass in slots[k], adds one to `done` (release) and waits for go =
// p + 1. The parent waits for done == workers * p (acquire: the slots are
// complete). After the last pass the workers sleep on `release` — alive, so
// the parent can read their memory for the mapping from /proc — until the
// parent stores release = 1 and reaps them. Each word is a futex word on
// its own cache line; every wait is bounded. Memory ordering:
// release/acquire pairs on ready, go, done and release; matrix rows and
// slots are plain memory ordered by them.
struct FillControl {
  alignas(kCacheLineSize) std::atomic<std::uint32_t> ready{0};
  alignas(kCacheLineSize) std::atomic<std::uint32_t> go{0};
  alignas(kCacheLineSize) std::atomic<std::uint32_t> done{0};
  alignas(kCacheLineSize) std::atomic<std::uint32_t> release{0};
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

inline constexpr unsigned kMaxPasses = 2;

struct alignas(kCacheLineSize) WorkerSlot {
  std::int64_t end_ns[kMaxPasses] = {};  // written by worker k only, before its `done`
  std::uint32_t failed = 0;              // 1 once a pass went wrong in worker k (zero-filled: fine)
};
static_assert(std::is_trivially_copyable_v<WorkerSlot>);

// Waits until word >= want. False once the deadline has passed.
bool await_at_least(std::atomic<std::uint32_t>& word, std::uint32_t want,
                    Deadline deadline) noexcept {
  for (;;) {
    const std::uint32_t seen = word.load(std::memory_order_acquire);
    if (seen >= want) return true;
    if (Clock::now() > deadline) return false;
    (void)futex_wait(word, seen, deadline);  // every outcome re-checks the word
  }
}

void post_add(std::atomic<std::uint32_t>& word) noexcept {
  word.fetch_add(1, std::memory_order_release);
  futex_wake_all(word);
}

void post_store(std::atomic<std::uint32_t>& word, std::uint32_t value) noexcept {
  word.store(value, std::memory_order_release);
  futex_wake_all(word);
}

struct FillSample {
  bool ok = false;
  std::vector<double> seconds;  // per pass
  std::vector<pid_t> pids;
  std::optional<MappingMemory> parent;
  std::vector<MappingMemory> workers;
};

// Runs `work(k)` (true if all went well) in `workers` forked processes,
// `passes` times, calling `forked(pids)` once they exist and `prepare(pass)`
// in the parent before each pass (untimed); measures memory after the last
// pass if `measure`.
template <class Work, class Prepare, class Forked = void (*)(const std::vector<pid_t>&)>
FillSample parallel_fill(
    const SharedMatrix<double>& matrix, unsigned workers, unsigned passes, bool measure,
    const Work& work, const Prepare& prepare,
    const Forked& forked = [](const std::vector<pid_t>&) {}) {
  auto control = SharedObject<FillControl>::anonymous();
  auto slots = SharedArray<WorkerSlot>::anonymous(workers);
  FillSample sample;
  std::vector<Process> children;
  children.reserve(workers);
  for (unsigned k = 0; k < workers; ++k) {
    children.emplace_back([&, k]() -> int {
      post_add(control->ready);
      for (unsigned pass = 1; pass <= passes; ++pass) {
        if (!await_at_least(control->go, pass, deadline_after(kWorkBudget))) return kWorkerTimedOut;
        const bool ok = work(k);
        slots[k].end_ns[pass - 1] = now_ns();
        if (!ok) slots[k].failed = 1;
        post_add(control->done);
      }
      if (!await_at_least(control->release, 1, deadline_after(kWorkBudget))) return kWorkerTimedOut;
      return slots[k].failed == 0 ? 0 : kWorkerRowNotInitial;
    });
    sample.pids.push_back(children.back().pid());
  }
  forked(sample.pids);
  // From here every early return destroys `children`: SIGKILL and reap.
  if (!await_at_least(control->ready, workers, deadline_after(kStartTimeout))) return sample;
  for (unsigned pass = 1; pass <= passes; ++pass) {
    prepare(pass);
    const std::int64_t start_ns = now_ns();
    post_store(control->go, pass);
    if (!await_at_least(control->done, workers * pass, deadline_after(kWorkBudget))) return sample;
    std::int64_t end_ns = start_ns;
    for (unsigned k = 0; k < workers; ++k) end_ns = std::max(end_ns, slots[k].end_ns[pass - 1]);
    sample.seconds.push_back(static_cast<double>(end_ns - start_ns) / 1e9);
  }
  if (measure) {
    // Every worker is alive and parked: the snapshot sees all sharers.
    try {
      sample.parent = memory_of(::getpid(), matrix.memory());
      for (const Process& child : children)
        sample.workers.push_back(memory_of(child.pid(), matrix.memory()));
    } catch (const std::exception&) {
      sample.parent.reset();  // /proc unreadable here: report no proof rather than a wrong one
      sample.workers.clear();
    }
  }
  post_store(control->release, 1);
  bool ok = true;
  for (unsigned k = 0; k < workers; ++k) {
    const auto code = children[k].join(kStartTimeout);
    ok = ok && code && *code == 0 && slots[k].failed == 0;
  }
  sample.ok = ok;
  return sample;
}

double seconds_of(steady_clock::time_point from, steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

void fill_random(std::span<double> row, std::mt19937_64& engine) {
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (double& v : row) v = uniform(engine);
}

std::mt19937_64 worker_engine(std::uint64_t seed, unsigned k) {
  // (seed, k) through seed_seq: streams of different workers are unrelated
  // even for adjacent k (DESIGN.md rule 7).
  std::seed_seq sequence{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                         static_cast<std::uint32_t>(k)};
  return std::mt19937_64(sequence);
}

// Samples of one row across the repeats.
struct Series {
  std::vector<double> seconds;
  bool all_ok = true;
  void add(bool ok, double s) {
    all_ok = all_ok && ok;
    if (ok) seconds.push_back(s);
  }
  // A run that completed but produced a wrong answer: timed, and marked.
  void add_checked(bool completed, bool right, double s) {
    all_ok = all_ok && completed && right;
    if (completed) seconds.push_back(s);
  }
  [[nodiscard]] double median() const { return seconds.empty() ? 0.0 : summarize(seconds).median; }
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
  row.repeats = static_cast<unsigned>(series.seconds.size());
  if (!series.seconds.empty()) row.seconds = summarize(series.seconds);
  row.correct = series.all_ok && !series.seconds.empty();
  return row;
}

void add_memory(Measurement& row, const std::string& who, const MappingMemory& m) {
  row.metrics.emplace_back(who + "_rss_bytes", static_cast<double>(m.rss_bytes));
  row.metrics.emplace_back(who + "_pss_bytes", static_cast<double>(m.pss_bytes));
  row.metrics.emplace_back(who + "_private_bytes", static_cast<double>(m.private_bytes()));
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

std::uint64_t count_repeated_rows(const double* cells, std::size_t rows, std::size_t cols) {
  if (cols == 0) throw_invalid_argument("count_repeated_rows: cols must be > 0 (got 0)");
  const std::size_t row_bytes = cols * sizeof(double);
  // Hash each row's bytes; rows whose hash matches an earlier one are
  // compared byte for byte, so a hash collision is never a false repeat.
  std::unordered_multimap<std::size_t, std::size_t> seen;
  seen.reserve(rows);
  std::uint64_t repeated = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const char* bytes = reinterpret_cast<const char*>(cells + r * cols);
    const std::size_t hash = std::hash<std::string_view>{}(std::string_view(bytes, row_bytes));
    const auto [first, last] = seen.equal_range(hash);
    const bool again = std::any_of(first, last, [&](const auto& entry) {
      return std::memcmp(reinterpret_cast<const char*>(cells + entry.second * cols), bytes,
                         row_bytes) == 0;
    });
    if (again) {
      ++repeated;
    } else {
      seen.emplace(hash, r);
    }
  }
  return repeated;
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
  const double bytes = static_cast<double>(matrix.size_bytes());
  const double values = static_cast<double>(matrix.size());

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
  FillSample last_pid_fill;

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
    // Pass 1 is the chapter's fill by fresh workers: each maps its rows'
    // pages on first touch (fork does not copy page tables of a shared
    // mapping). Pass 2 repeats it with the same workers, pages mapped: the
    // memory bandwidth alone, as a pool's long-lived workers see it.
    std::vector<pid_t> pids;
    std::vector<PidFillCheck> verdicts;
    FillSample pid_fill = parallel_fill(
        matrix, workers, kMaxPasses, /*measure=*/true,
        [&](unsigned k) {
          bool ok = true;
          for (std::size_t r = k; r < matrix.rows(); r += workers) {
            ok = fill_row_with_pid(matrix.row(r), ::getpid()) && ok;
          }
          return ok;
        },
        [&](unsigned pass) {
          // Each pass is verified before the next one refills the matrix.
          if (pass > 1) verdicts.push_back(verify_pid_fill(matrix.span(), matrix.cols(), pids));
          matrix.fill(kPidFillInitial);
        },
        [&](const std::vector<pid_t>& forked) { pids = forked; });
    if (pid_fill.ok) {
      verdicts.push_back(verify_pid_fill(matrix.span(), matrix.cols(), pids));
      pid_fill.ok = verdicts.size() == kMaxPasses &&
                    std::ranges::all_of(verdicts, [](const PidFillCheck& v) { return v.ok(); });
      distinct_pids = verdicts.back().distinct_pids;
    }
    pid_series.add(pid_fill.ok, pid_fill.ok ? pid_fill.seconds[0] : 0);
    warm_series.add(pid_fill.ok, pid_fill.ok ? pid_fill.seconds[1] : 0);
    if (pid_fill.ok && pid_fill.parent) last_pid_fill = std::move(pid_fill);

    say(repeat, "random-serial");
    {
      std::mt19937_64 engine = worker_engine(seed, workers);  // a stream no worker uses
      const auto start = steady_clock::now();
      for (std::size_t r = 0; r < matrix.rows(); ++r) fill_random(matrix.row(r), engine);
      serial_series.add(true, seconds_of(start, steady_clock::now()));
      serial_repeats_seen = std::max(
          serial_repeats_seen, count_repeated_rows(matrix.data(), matrix.rows(), matrix.cols()));
    }

    say(repeat, "random-parallel");
    {
      FillSample sample = parallel_fill(
          matrix, workers, 1, /*measure=*/false,
          [&](unsigned k) {
            std::mt19937_64 engine = worker_engine(seed, k);
            for (std::size_t r = k; r < matrix.rows(); r += workers)
              fill_random(matrix.row(r), engine);
            return true;
          },
          [](unsigned) {});
      const std::uint64_t repeated =
          count_repeated_rows(matrix.data(), matrix.rows(), matrix.cols());
      parallel_repeats_seen = std::max(parallel_repeats_seen, repeated);
      parallel_series.add_checked(sample.ok, repeated == 0, sample.ok ? sample.seconds[0] : 0);
    }

    if (config.forget_reseed) {
      say(repeat, "random-parallel-forgot-reseed");
      // The book's bug: the engine is seeded once in the parent and every
      // forked worker carries on from the very same inherited state.
      std::mt19937_64 inherited = worker_engine(seed, workers + 1);
      FillSample sample = parallel_fill(
          matrix, workers, 1, /*measure=*/false,
          [&](unsigned k) {
            for (std::size_t r = k; r < matrix.rows(); r += workers)
              fill_random(matrix.row(r), inherited);
            return true;
          },
          [](unsigned) {});
      const std::uint64_t repeated =
          count_repeated_rows(matrix.data(), matrix.rows(), matrix.cols());
      forgot_repeats_seen = std::max(forgot_repeats_seen, repeated);
      // Timed even though wrong: correct = false says what is wrong.
      forgot_series.add_checked(sample.ok, repeated == 0, sample.ok ? sample.seconds[0] : 0);
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
  if (last_pid_fill.parent) {
    double pss_sum = static_cast<double>(last_pid_fill.parent->pss_bytes);
    double private_max = 0;
    add_memory(pid_row, "parent", *last_pid_fill.parent);
    for (std::size_t k = 0; k < last_pid_fill.workers.size(); ++k) {
      const MappingMemory& m = last_pid_fill.workers[k];
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
    row.correct = series.all_ok && !series.seconds.empty() && repeated == 0;
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
