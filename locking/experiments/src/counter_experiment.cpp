#include "mpkit/locking/experiments/counter_experiment.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "mpkit/ipc/atomic_flag_counter.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/experiments/children.hpp"
#include "mpkit/ipc/experiments/experiment_servers.hpp"
#include "mpkit/ipc/experiments/repeats.hpp"
#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/remote/manager_flag_counter.hpp"
#include "mpkit/ipc/mutex.hpp"
#include "mpkit/ipc/raw_value_flag_counter.hpp"
#include "mpkit/ipc/remote/redis_flag_counter.hpp"
#include "mpkit/ipc/value_flag_counter.hpp"
#include "mpkit/locking/file_lock.hpp"
#include "mpkit/locking/lock.hpp"
#include "mpkit/locking/registry.hpp"

namespace mpkit::locking {
namespace {

using std::chrono::steady_clock;

// Bounds; none is a timing assertion. A lock is waited for at most
// kLockTimeout at a time (the deadline is refreshed every kDeadlineEvery
// increments, so the clock is not read per increment); a run at most
// kRunBudget plus 100 us per increment.
constexpr auto kLockTimeout = std::chrono::seconds(10);
constexpr std::uint64_t kDeadlineEvery = 1024;
constexpr auto kStartTimeout = std::chrono::seconds(10);
constexpr auto kRunBudget = std::chrono::seconds(60);
constexpr std::string_view kLockPrefix = "lock:";

// ---------------------------------------------------------------------------
// The start gate (ForkedChildren) lets the workers run at the same time;
// parse errors are tallied in a mapping of their own and read after the joins.

struct Start {
  std::atomic<std::uint64_t> parse_errors{0};
};
static_assert(std::is_trivially_destructible_v<Start>, "vanishes with its mapping");

struct RunResult {
  bool ok = false;
  double seconds = 0;
  std::uint64_t parse_errors = 0;
};

// Forks `workers` children running body(worker) -> exit code, releases them
// together, joins them; the clock runs from before the first fork to after
// the last join, as in the book.
template <class Body>
RunResult run_workers(unsigned workers, std::uint64_t count, Body body) {
  SharedBox<Start> start;
  const auto begin = steady_clock::now();
  ForkedChildren children(kStartTimeout);  // after `start`: reaped before it goes
  for (unsigned w = 0; w < workers; ++w) {
    children.spawn([&, w] { return body(w, *start); });
  }
  if (!children.start()) return {};
  const bool ok =
      children
          .join_within(kRunBudget + std::chrono::microseconds(100) *
                                        static_cast<std::int64_t>(count * workers))
          .ok();
  return {ok, std::chrono::duration<double>(steady_clock::now() - begin).count(),
          start->parse_errors.load()};
}

// ---------------------------------------------------------------------------
// The file counter, in the book's order of operations (see the header).

class CounterFile {
 public:
  CounterFile() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mpkit.counter.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw_system_error(errno, "mkdtemp " + pattern);
    dir_ = pattern;
    path_ = dir_ + "/count";
    if (!write_value(0)) throw_system_error(errno, "write " + path_);
  }
  CounterFile(const CounterFile&) = delete;
  CounterFile& operator=(const CounterFile&) = delete;
  ~CounterFile() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  [[nodiscard]] const std::string& dir() const noexcept { return dir_; }

  /// One increment; false on an I/O error. An unreadable number counts a
  /// parse error and skips the increment (the file is not truncated then).
  [[nodiscard]] bool increment(std::atomic<std::uint64_t>& parse_errors) const {
    const int reader = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (reader < 0) return false;
    std::array<char, 32> text{};
    const ssize_t got = ::read(reader, text.data(), text.size());
    std::int64_t value = 0;
    const auto parsed = got > 0 ? std::from_chars(text.data(), text.data() + got, value)
                                : std::from_chars_result{text.data(), std::errc::invalid_argument};
    if (got <= 0 || parsed.ec != std::errc{}) {
      ::close(reader);
      parse_errors.fetch_add(1, std::memory_order_relaxed);  // relaxed: a tally read after join
      return got >= 0;
    }
    // The book's order: open for writing (truncating) while the read handle
    // is still open, then close the read handle, then write.
    const int writer = ::open(path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    ::close(reader);
    if (writer < 0) return false;
    const std::string next = std::to_string(value + 1);
    const bool ok = ::write(writer, next.data(), next.size()) == static_cast<ssize_t>(next.size());
    ::close(writer);
    return ok;
  }

  [[nodiscard]] std::optional<std::int64_t> read_value() const {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::array<char, 32> text{};
    const ssize_t got = ::read(fd, text.data(), text.size());
    ::close(fd);
    std::int64_t value = 0;
    if (got <= 0 || std::from_chars(text.data(), text.data() + got, value).ec != std::errc{}) {
      return std::nullopt;
    }
    return value;
  }

 private:
  bool write_value(std::int64_t value) const {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    const std::string text = std::to_string(value);
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    return ok;
  }

  std::string dir_;
  std::string path_;
};

// A bounded acquire with a deadline refreshed every kDeadlineEvery calls.
template <Lock L>
class BoundedLocker {
 public:
  explicit BoundedLocker(L& lock) noexcept : lock_(lock) {}
  [[nodiscard]] bool lock() {
    if (calls_++ % kDeadlineEvery == 0) deadline_ = deadline_after(kLockTimeout);
    return acquire(lock_, deadline_) == LockStatus::kAcquired;  // a dead owner is a failure too
  }
  void unlock() noexcept { lock_.unlock(); }

 private:
  L& lock_;
  std::uint64_t calls_ = 0;
  Deadline deadline_{};
};

template <Lock L>
struct LockedValue {
  L lock;
  alignas(kCacheLineSize) std::int64_t value = 0;  // off the lock's line: spinners do not slow it
};

// ---------------------------------------------------------------------------
// One run of each kind of variant: final value and how the run went.

struct Sample {
  RunResult run;
  std::int64_t final = 0;
};

Sample file_run(unsigned workers, std::uint64_t count, bool locked, bool whole_loop) {
  CounterFile file;
  // flock(2) on a lock file of its own (FlockLock makes and removes it).
  std::optional<SharedBox<FlockLock>> lock;
  if (locked) lock.emplace();
  Sample sample;
  sample.run = run_workers(workers, count, [&](unsigned, Start& start) {
    std::optional<BoundedLocker<FlockLock>> locker;
    if (lock) locker.emplace(**lock);
    if (whole_loop && !locker->lock()) return ChildExit::kStalled;
    for (std::uint64_t i = 0; i < count; ++i) {
      if (locker && !whole_loop && !locker->lock()) return ChildExit::kStalled;
      const bool ok = file.increment(start.parse_errors);
      if (locker && !whole_loop) locker->unlock();
      if (!ok) return ChildExit::kIoError;
    }
    if (whole_loop) locker->unlock();
    return ChildExit::kOk;
  });
  sample.final = file.read_value().value_or(-1);
  return sample;
}

// A counter handle of ipc/ (Counter concept): increment() per step.
template <class C>
Sample counter_run(C counter, unsigned workers, std::uint64_t count) {
  Sample sample;
  sample.run = run_workers(workers, count, [&](unsigned, Start&) {
    for (std::uint64_t i = 0; i < count; ++i) (void)counter.increment();
    return ChildExit::kOk;
  });
  sample.final = counter.get();
  return sample;
}

// RawValueCounter + a separate mpkit::Mutex (mp.RawValue + mp.Lock).
Sample rawvalue_lock_run(unsigned workers, std::uint64_t count) {
  RawValueCounter counter = RawValueCounter::create();
  SharedBox<Mutex> mutex;
  Sample sample;
  sample.run = run_workers(workers, count, [&](unsigned, Start&) {
    Deadline deadline{};
    for (std::uint64_t i = 0; i < count; ++i) {
      if (i % kDeadlineEvery == 0) deadline = deadline_after(kLockTimeout);
      if (mutex->acquire(deadline) != LockStatus::kAcquired) return ChildExit::kStalled;
      (void)counter.increment();
      mutex->unlock();
    }
    return ChildExit::kOk;
  });
  sample.final = counter.get();
  return sample;
}

template <Lock L>
Sample lock_run(unsigned workers, std::uint64_t count) {
  SharedBox<LockedValue<L>> guarded;
  Sample sample;
  sample.run = run_workers(workers, count, [&](unsigned, Start&) {
    BoundedLocker<L> locker(guarded->lock);
    for (std::uint64_t i = 0; i < count; ++i) {
      if (!locker.lock()) return ChildExit::kStalled;
      // volatile: one load and one store per increment, as a real critical
      // section would do, not a sum the compiler hoists out of the loop.
      auto& cell = static_cast<volatile std::int64_t&>(guarded->value);
      cell = cell + 1;
      locker.unlock();
    }
    return ChildExit::kOk;
  });
  sample.final = guarded->value;
  return sample;
}

// ---------------------------------------------------------------------------
// Variants.

constexpr std::array<std::string_view, 8> kPlainVariants = {
    "file-nolock", "file-lock", "value-nolock", "value-lock", "rawvalue-lock",
    "atomic",      "redis",     "manager"};

bool loses_updates(std::string_view variant) {
  return variant == "file-nolock" || variant == "value-nolock";
}

Sample run_variant(std::string_view variant, const CounterConfig& config, std::uint64_t count,
                   mpkit::detail::ExperimentServers& servers) {
  const unsigned w = config.workers;
  const bool loop = config.lock_scope == "loop";
  if (variant == "file-nolock") return file_run(w, count, false, false);
  if (variant == "file-lock") return file_run(w, count, true, loop);
  if (variant == "value-nolock") return counter_run(RawValueCounter::create(), w, count);
  if (variant == "value-lock") return counter_run(ValueCounter::create(), w, count);
  if (variant == "rawvalue-lock") return rawvalue_lock_run(w, count);
  if (variant == "atomic") return counter_run(AtomicCounter::create(), w, count);
  if (variant == "redis") {
    return counter_run(RedisCounter::create(servers.redis_url(),
                                            servers.fresh_name("mpkit.counter." +
                                                               std::to_string(::getpid()))),
                       w, count);
  }
  if (variant == "manager") {
    return counter_run(ManagerCounter::create(servers.manager(), servers.fresh_name("counter")), w,
                       count);
  }
  const std::string_view name = variant.substr(kLockPrefix.size());
  return visit_lock(name, [&]<class L>(std::type_identity<L>) { return lock_run<L>(w, count); });
}

struct Cell {
  std::string variant;
  std::uint64_t count = 0;  // per worker, after any scaling
  Repeats runs;             // the runs that completed (lost updates or not), and their figures
  bool all_exact = true;    // no completed run lost an update
};

}  // namespace

std::vector<std::string> counter_variants() {
  std::vector<std::string> names(kPlainVariants.begin(), kPlainVariants.end());
  for (const std::string_view lock : lock_names()) names.push_back(std::string(kLockPrefix) + std::string(lock));
  return names;
}

void validate_counter_config(const CounterConfig& config) {
  if (config.repeats == 0) throw_invalid_argument("CounterConfig: repeats must be >= 1 (got 0)");
  if (config.workers == 0 || config.workers > kMaxCounterWorkers) {
    throw_invalid_argument("CounterConfig: workers must lie in [1, " +
                           std::to_string(kMaxCounterWorkers) + "] (got " +
                           std::to_string(config.workers) + ")");
  }
  if (config.count == 0 || config.count > kMaxCounterCount) {
    throw_invalid_argument("CounterConfig: count must lie in [1, " +
                           std::to_string(kMaxCounterCount) + "] (got " +
                           std::to_string(config.count) + ")");
  }
  if (config.lock_scope != "increment" && config.lock_scope != "loop") {
    throw_invalid_argument("CounterConfig: lock_scope must be 'increment' or 'loop' (got '" +
                           config.lock_scope + "')");
  }
  const std::vector<std::string> known = counter_variants();
  for (const std::string& name : config.variants) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      throw_invalid_argument("CounterConfig: variants: unknown variant '" + name + "' (known: " +
                             list + ")");
    }
  }
}

std::vector<Measurement> run_counter_experiment(
    const CounterConfig& config, const std::function<void(std::string_view)>& progress) {
  validate_counter_config(config);
  mpkit::detail::ExperimentServers servers(config.redis_url);
  std::vector<Cell> cells;
  for (const std::string& name : config.variants.empty() ? counter_variants() : config.variants) {
    if (std::none_of(cells.begin(), cells.end(), [&](const Cell& c) { return c.variant == name; })) {
      cells.push_back(Cell{name, config.count, {}, true});
    }
  }

  const auto run_cell = [&](Cell& cell) {
    try {
      const Sample sample = run_variant(cell.variant, config, cell.count, servers);
      const auto expected = static_cast<std::int64_t>(cell.count * config.workers);
      if (!sample.run.ok) return cell.runs.fail();
      const std::int64_t lost = std::max<std::int64_t>(0, expected - sample.final);
      cell.runs.add(sample.run.seconds, {{"final", static_cast<double>(sample.final)},
                                         {"lost_updates", static_cast<double>(lost)},
                                         {"parse_errors", static_cast<double>(sample.run.parse_errors)}});
      cell.all_exact = cell.all_exact && sample.final == expected;
    } catch (const std::exception& error) {
      // A variant that cannot run here (no redis-server) fails its own row.
      cell.runs.fail();
      if (progress) progress(cell.variant + " failed: " + error.what());
    }
  };

  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    for (Cell& cell : cells) {
      if (progress) {
        progress("repeat " + std::to_string(repeat + 1) + "/" + std::to_string(config.repeats) +
                 ": " + cell.variant);
      }
      run_cell(cell);
    }
  }

  // The book's lesson, whatever the machine: a no-lock variant whose median
  // repeat lost nothing is run again at 10x the count until it does, or the
  // cap, or the time budget (a loaded machine may never overlap the workers).
  for (Cell& cell : cells) {
    const auto nothing_lost_typically = [](const Cell& c) {
      return c.runs.figure("lost_updates").median_or(0) == 0;
    };
    const auto within_budget = [](const Cell& c) {
      return c.runs.seconds().median_or(0.0) < kAutoScaleSeconds;
    };
    while (config.auto_scale && loses_updates(cell.variant) && cell.runs.all_right() &&
           nothing_lost_typically(cell) && cell.count < kMaxAutoScaleCount && within_budget(cell)) {
      cell = Cell{cell.variant, std::min(cell.count * 10, kMaxAutoScaleCount), {}, true};
      for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
        if (progress) progress(cell.variant + ": nothing lost, again at count " + std::to_string(cell.count));
        run_cell(cell);
      }
    }
  }

  std::vector<Measurement> rows;
  for (const Cell& cell : cells) {
    Measurement row;
    row.experiment = "counter";
    row.variant = cell.variant;
    row.workers = config.workers;
    const auto expected = static_cast<std::int64_t>(cell.count * config.workers);
    row.params = {{"count", static_cast<std::int64_t>(cell.count)},
                  {"requested_count", static_cast<std::int64_t>(config.count)},
                  {"expected", expected}};
    if (cell.variant == "file-lock") row.params.emplace_back("lock_scope", config.lock_scope);
    cell.runs.fill(row);
    row.correct = row.correct && cell.all_exact;
    if (row.repeats > 0) {
      const Samples& lost = cell.runs.figure("lost_updates");
      row.metrics = {{"final", cell.runs.figure("final").median()},
                     {"lost_updates", lost.median()},
                     {"lost_updates_max", lost.max()},
                     {"parse_errors", cell.runs.figure("parse_errors").median()},
                     {"increments_per_s", static_cast<double>(expected) / row.seconds.median}};
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace mpkit::locking
