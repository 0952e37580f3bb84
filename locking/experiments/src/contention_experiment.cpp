// The contention experiment (contention_experiment.hpp): workers forked
// over one lock, counted without clock reads, sampled for latency.

#include "mpkit/locking/experiments/contention_experiment.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/experiments/children.hpp"
#include "mpkit/ipc/experiments/pinning.hpp"
#include "mpkit/ipc/experiments/repeats.hpp"
#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/futex.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/shared_memory.hpp"
#include "mpkit/locking/registry.hpp"

namespace mpkit::locking {
namespace {

using std::chrono::steady_clock;

constexpr auto kStartTimeout = std::chrono::seconds(10);  // workers checking in / waiting for go
constexpr std::string_view kBaselineName = "none";

// Worker i takes the (i mod n)-th CPU this process may use (Pinning).
using mpkit::Pinning;

// nproc, at least 1.
unsigned allowed_cpu_count() {
  return std::max(1U, static_cast<unsigned>(mpkit::allowed_cpus().size()));
}

// ---------------------------------------------------------------------------
// Work: dependent 64-bit multiply-adds (an LCG step), which the compiler may
// neither fold nor vectorise; `asm volatile` keeps each step.

std::uint64_t work(std::uint64_t x, std::uint32_t steps) noexcept {
  for (std::uint32_t i = 0; i < steps; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    asm volatile("" : "+r"(x));
  }
  return x;
}

double work_step_ns() {
  constexpr std::uint32_t kSteps = 1U << 22;
  const auto start = steady_clock::now();
  volatile std::uint64_t sink = work(1, kSteps);
  (void)sink;
  return std::chrono::duration<double, std::nano>(steady_clock::now() - start).count() / kSteps;
}

// ---------------------------------------------------------------------------
// The arena: lock, guarded data, gates and per-worker results.
//
// Protocol: the parent constructs the arena before forking. Each worker pins
// itself and passes the start gate with the others (ForkedChildren: the
// parent opens it once all have checked in), increments `running` and
// loops, reading `phase` once per
// iteration (relaxed: a signal only): kWarmUp until every worker runs (so a
// worker the scheduler starts late does not lose part of the window), then
// kMeasuring -- the worker notes its count so far, and only acquisitions
// from then on count towards the window -- then kStop: it writes its slot
// and exits. The parent reads the slots, the counter and
// the samples only after reaping every worker (waitpid orders those reads).
// Lock, guarded data, `running`, the phase word and each slot have their own
// cache line: the phase word is read by every worker on every iteration and
// written once, so it stays shared in every cache. Memory ordering: the
// gate is the harness's (release/acquire pairs); the counter is ordered by
// the lock (what is measured); everything else is read after waitpid.

/// No lock: the harness-overhead row.
struct NoLock {
  void lock() noexcept {}
  void unlock() noexcept {}
};

enum Phase : std::uint32_t { kWarmUp = 0, kMeasuring = 1, kStop = 2 };

struct alignas(kCacheLineSize) WorkerSlot {
  std::uint64_t ops = 0;      // acquisitions in the window; written by its worker before it exits
  std::uint64_t all_ops = 0;  // acquisitions in all (warm-up too); same
  std::uint32_t samples = 0;  // latency samples taken; same
  std::uint64_t sink = 0;     // the outside work's result, so it is not optimised away
};

template <class L>
struct Arena {
  alignas(kCacheLineSize) L lock;
  alignas(kCacheLineSize) std::uint64_t counter = 0;  // guarded by lock
  std::uint64_t scratch = 0;                           // guarded by lock: the critical work's result
  alignas(kCacheLineSize) std::atomic<std::uint32_t> running{0};  // workers past the gate
  alignas(kCacheLineSize) std::atomic<std::uint32_t> phase{kWarmUp};  // parent -> workers
  WorkerSlot slots[kMaxContentionWorkers];
};

struct Shape {
  std::uint32_t critical_work = 0;
  std::uint32_t outside_steps = 0;  // per acquisition, already scaled
  std::uint32_t sample_every = 1;
};

std::uint32_t saturated_ns(steady_clock::duration d) noexcept {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  return ns < 0 ? 0U : ns > 0xFFFF'FFFFLL ? 0xFFFF'FFFFU : static_cast<std::uint32_t>(ns);
}

template <class L>
ChildExit worker(Arena<L>& arena, std::uint32_t* samples, unsigned index,
                 const Shape& shape) noexcept {
  arena.running.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count the parent polls

  std::uint64_t ops = 0;
  std::uint64_t ops_before_window = 0;
  bool measuring = false;
  std::uint32_t taken = 0;
  std::uint64_t value = index + 1;
  // Staggered, so the workers do not all time the same hand-off.
  std::uint32_t until_sample = 1 + (index * 37U) % shape.sample_every;
  try {
    for (;;) {
      // relaxed: a signal only; the results travel through waitpid.
      const std::uint32_t phase = arena.phase.load(std::memory_order_relaxed);
      if (phase == kStop) break;
      if (phase == kMeasuring && !measuring) [[unlikely]] {
        measuring = true;
        ops_before_window = ops;
        taken = 0;  // latency samples from the window only
      }
      if (--until_sample == 0) {
        until_sample = shape.sample_every;
        const auto before = steady_clock::now();
        arena.lock.lock();
        const auto after = steady_clock::now();
        if (taken < kMaxSamplesPerWorker) samples[taken++] = saturated_ns(after - before);
      } else {
        arena.lock.lock();
      }
      if constexpr (!std::is_same_v<L, NoLock>) {
        const std::uint64_t seen = arena.counter;  // a torn update shows as a lost one
        arena.scratch = work(seen, shape.critical_work);
        arena.counter = seen + 1;
      }
      arena.lock.unlock();
      ++ops;
      value = work(value, shape.outside_steps);
    }
  } catch (...) {  // a lock that failed (a file lock's system call, MCS out of slots)
    return ChildExit::kLockFailed;
  }
  WorkerSlot& slot = arena.slots[index];
  slot.ops = measuring ? ops - ops_before_window : 0;
  slot.all_ops = ops;
  slot.samples = taken;
  slot.sink = value;
  return ChildExit::kOk;
}

struct RunResult {
  bool ok = false;
  double seconds = 0;
  std::vector<std::uint64_t> ops;   // per worker
  std::vector<double> latency_ns;   // pooled samples
};

template <class L>
RunResult run_once(unsigned workers, const Shape& shape, const Pinning& pinning,
                   std::chrono::milliseconds duration) {
  SharedBox<Arena<L>> arena;
  SharedMemory sample_memory =
      SharedMemory::anonymous(std::size_t{workers} * kMaxSamplesPerWorker * sizeof(std::uint32_t));
  auto* samples = reinterpret_cast<std::uint32_t*>(sample_memory.data());

  // Declared after the arena and the samples: the workers are killed and
  // reaped before the lock is destroyed.
  ForkedChildren children(kStartTimeout);
  for (unsigned i = 0; i < workers; ++i) {
    std::uint32_t* own = samples + std::size_t{i} * kMaxSamplesPerWorker;
    children.spawn([&pinning, i] { pinning.pin(i); },
                   [&arena, own, i, &shape] { return worker(*arena, own, i, shape); });
  }
  if (!children.await_check_in()) return {};
  const Deadline opened = Clock::now();
  children.open();
  // relaxed: a count; nothing else is read through it.
  while (arena->running.load(std::memory_order_relaxed) < workers) {
    if (Clock::now() > opened + kStartTimeout) return {};
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  // relaxed (both stores): signals; the results come back through waitpid.
  arena->phase.store(kMeasuring, std::memory_order_relaxed);
  const auto start = steady_clock::now();
  std::this_thread::sleep_until(start + duration);
  arena->phase.store(kStop, std::memory_order_relaxed);
  const auto stop = steady_clock::now();

  if (!children.join_within(kStopTimeout).ok()) return {};

  RunResult result;
  result.seconds = std::chrono::duration<double>(stop - start).count();
  std::uint64_t total = 0;
  for (unsigned i = 0; i < workers; ++i) {
    const WorkerSlot& slot = arena->slots[i];
    result.ops.push_back(slot.ops);
    total += slot.all_ops;
    const std::uint32_t* own = samples + std::size_t{i} * kMaxSamplesPerWorker;
    for (std::uint32_t k = 0; k < slot.samples; ++k) result.latency_ns.push_back(own[k]);
  }
  result.ok = std::is_same_v<L, NoLock> || arena->counter == total;
  return result;
}

// ---------------------------------------------------------------------------
// Rows.

// A row's runs; figures acq_per_s, jain, share_min, share_max,
// latency_ns_p50, latency_ns_p99 (the last five only from runs that have them).
struct Series {
  Repeats runs;

  void add(const RunResult& run) {
    if (!run.ok) return runs.fail();
    if (run.seconds <= 0) return;
    double total = 0;
    double squares = 0;
    double low = 0;
    double high = 0;
    for (std::size_t i = 0; i < run.ops.size(); ++i) {
      const auto x = static_cast<double>(run.ops[i]);
      total += x;
      squares += x * x;
      low = i == 0 ? x : std::min(low, x);
      high = std::max(high, x);
    }
    runs.add(run.seconds, {{"acq_per_s", total / run.seconds}});
    // A window nobody acquired in (every worker descheduled throughout, on
    // a loaded machine) has no shares: it counts for throughput only.
    if (total > 0) {
      const auto n = static_cast<double>(run.ops.size());
      runs.note("jain", total * total / (n * squares));
      runs.note("share_min", low / total);
      runs.note("share_max", high / total);
    }
    if (!run.latency_ns.empty()) {
      runs.note("latency_ns_p50", percentile(run.latency_ns, 50));
      runs.note("latency_ns_p99", percentile(run.latency_ns, 99));
    }
  }
};

struct RowKey {
  std::string variant;
  unsigned workers;
};

Measurement make_row(const RowKey& key, const Series& series, const ContentionConfig& config,
                     std::uint32_t outside_steps, double step_ns, unsigned nproc) {
  Measurement row;
  row.experiment = "contention";
  row.variant = key.variant;
  row.workers = key.workers;
  row.params = {{"critical_work", static_cast<std::int64_t>(config.critical_work)},
                {"outside_work", static_cast<std::int64_t>(config.outside_work)},
                {"outside_per_worker", static_cast<std::int64_t>(outside_steps)},
                {"scaled", config.scale_outside_work},
                {"pinned", config.pin},
                {"duration_ms", static_cast<std::int64_t>(config.duration.count())},
                {"sample_every", static_cast<std::int64_t>(config.sample_every)},
                {"nproc", static_cast<std::int64_t>(nproc)}};
  series.runs.fill(row);
  if (row.repeats == 0) return row;
  const Summary acq = series.runs.figure("acq_per_s").summary();
  row.metrics = {{"acq_per_s", acq.median}, {"acq_per_s_min", acq.min}, {"acq_per_s_max", acq.max}};
  for (const char* metric :
       {"jain", "share_min", "share_max", "latency_ns_p50", "latency_ns_p99"}) {
    const Samples& samples = series.runs.figure(metric);
    if (!samples.empty()) row.metrics.emplace_back(metric, samples.median());
  }
  row.metrics.emplace_back("work_step_ns", step_ns);
  return row;
}

void check(const ContentionConfig& config, const std::vector<unsigned>& workers) {
  const std::vector<std::string_view> known = lock_names();
  for (const std::string& name : config.locks) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (const std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      throw_invalid_argument("ContentionConfig: locks: unknown lock \"" + name + "\" (known: " + list + ")");
    }
  }
  for (const unsigned w : workers) {
    if (w == 0 || w > kMaxContentionWorkers) {
      throw_invalid_argument("ContentionConfig: workers must lie in [1, " +
                             std::to_string(kMaxContentionWorkers) + "] (got " + std::to_string(w) + ")");
    }
  }
  if (config.repeats == 0) throw_invalid_argument("ContentionConfig: repeats must be >= 1 (got 0)");
  if (config.duration.count() <= 0) {
    throw_invalid_argument("ContentionConfig: duration must be > 0 ms (got " +
                           std::to_string(config.duration.count()) + ")");
  }
  if (config.sample_every == 0) throw_invalid_argument("ContentionConfig: sample_every must be >= 1 (got 0)");
}

}  // namespace

std::vector<unsigned> default_contention_workers() {
  const unsigned most = std::min(2 * allowed_cpu_count(), kMaxContentionWorkers);
  std::vector<unsigned> workers;
  for (unsigned w = 1; w <= most; ++w) workers.push_back(w);
  return workers;
}

std::vector<Measurement> run_contention_experiment(
    const ContentionConfig& config, const std::function<void(std::string_view)>& progress) {
  std::vector<unsigned> workers = config.workers.empty() ? default_contention_workers() : config.workers;
  check(config, workers);
  std::sort(workers.begin(), workers.end());
  workers.erase(std::unique(workers.begin(), workers.end()), workers.end());

  std::vector<std::string> variants;
  if (config.baseline) variants.emplace_back(kBaselineName);
  if (config.locks.empty()) {
    for (const std::string_view name : lock_names()) variants.emplace_back(name);
  } else {
    variants.insert(variants.end(), config.locks.begin(), config.locks.end());
  }

  const unsigned nproc = allowed_cpu_count();
  const double step_ns = work_step_ns();
  const Pinning pinning(config.pin);
  const auto outside_for = [&](unsigned w) {
    const std::uint64_t steps = config.scale_outside_work ? std::uint64_t{config.outside_work} * w
                                                          : config.outside_work;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(steps, 0xFFFF'FFFFU));
  };

  std::vector<RowKey> keys;
  for (const std::string& variant : variants) {
    for (const unsigned w : workers) keys.push_back({variant, w});
  }
  std::vector<Series> series(keys.size());
  // Round-robin: every row once per repeat, so drift in the background load
  // spreads over all of them.
  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    for (std::size_t k = 0; k < keys.size(); ++k) {
      const RowKey& key = keys[k];
      if (progress) {
        progress("repeat " + std::to_string(repeat + 1) + "/" + std::to_string(config.repeats) + ": " +
                 key.variant + " x " + std::to_string(key.workers));
      }
      const Shape shape{config.critical_work, outside_for(key.workers), config.sample_every};
      if (key.variant == kBaselineName) {
        series[k].add(run_once<NoLock>(key.workers, shape, pinning, config.duration));
      } else {
        series[k].add(visit_lock(key.variant, [&]<class L>(std::type_identity<L>) {
          return run_once<L>(key.workers, shape, pinning, config.duration);
        }));
      }
    }
  }

  std::vector<Measurement> rows;
  rows.reserve(keys.size());
  for (std::size_t k = 0; k < keys.size(); ++k) {
    rows.push_back(make_row(keys[k], series[k], config, outside_for(keys[k].workers), step_ns, nproc));
  }
  return rows;
}

}  // namespace mpkit::locking
