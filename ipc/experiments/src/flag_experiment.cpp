#include "mpkit/ipc/experiments/flag_experiment.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "mpkit/ipc/detail/clock.hpp"
#include "mpkit/ipc/detail/spin.hpp"
#include "mpkit/ipc/error.hpp"
#include "mpkit/ipc/experiments/children.hpp"
#include "mpkit/ipc/experiments/experiment_servers.hpp"
#include "mpkit/ipc/experiments/pinning.hpp"
#include "mpkit/ipc/experiments/repeats.hpp"
#include "mpkit/ipc/experiments/shared_box.hpp"
#include "mpkit/ipc/flag.hpp"
#include "mpkit/ipc/flag_registry.hpp"
#include "mpkit/ipc/layout.hpp"
#include "mpkit/ipc/remote/backends.hpp"
#include "mpkit/ipc/experiments/experiment_servers.hpp"

namespace mpkit {
namespace {

using detail::now_ns;
using std::chrono::steady_clock;

// Bounds on every wait; none is a timing assertion. A healthy watcher answers
// in nanoseconds (shared memory) or tens of microseconds (Redis).
constexpr auto kStepTimeout = std::chrono::seconds(5);
constexpr auto kJoinTimeout = std::chrono::seconds(10);
constexpr std::uint64_t kWarmupHandoffs = 20;   // untimed, before the timed ones
constexpr std::uint64_t kPollsPerClockRead = 256;  // watcher: deadline checks are amortised
// futex-wait: the setter waits this long after the watcher is ready, so the
// watcher has finished its ~2.5 us spin and sleeps: the row then measures a
// wake-up, not a spin that happened to catch the store.
constexpr auto kSleepSettle = std::chrono::microseconds(200);

// The backends, in row order: the flag registry's (mpkit/ipc/remote/backends.hpp).
// remote(): one round trip per call (remote_polls, not polls); watcher_sleeps:
// the watcher sleeps in wait_until (futex-wait).
using Backends = AllFlagBackends;
constexpr std::array<FlagInfo, Backends::kSize> kBackends = flag_infos(Backends{});
constexpr std::array<std::string_view, kBackends.size()> kBackendNames = [] {
  std::array<std::string_view, kBackends.size()> names{};
  for (std::size_t i = 0; i < kBackends.size(); ++i) names[i] = kBackends[i].name;
  return names;
}();

// ---------------------------------------------------------------------------
// The hand-off protocol, in an anonymous shared mapping.
//
// Sample k (numbered from 1): the parent clears the flag, stores armed = k
// (release); the watcher, seeing armed == k, checks the flag reads clear and
// stores ready = k (release); the parent, seeing ready == k, reads the clock
// into set_ns... and calls set(); the watcher, on seeing the flag set, reads
// the clock into seen_ns and stores seen = k (release); the parent, seeing
// seen == k (acquire), reads seen_ns. Each word has one writer; each plain
// field is written before the release store that publishes it and read after
// the acquire load that sees it. Words sit on separate cache lines so the
// watcher's polling line is the flag's alone. Memory ordering: three
// release/acquire pairs per sample; nothing else crosses.

struct Handoff {
  alignas(kCacheLineSize) std::atomic<std::uint64_t> armed{0};  // parent -> watcher
  alignas(kCacheLineSize) std::atomic<std::uint64_t> ready{0};  // watcher -> parent
  alignas(kCacheLineSize) std::atomic<std::uint64_t> seen{0};   // watcher -> parent
  std::int64_t seen_ns = 0;                                     // published by `seen`
  std::atomic<std::uint32_t> failed{0};                         // watcher: gave up
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared between processes");
static_assert(std::is_trivially_destructible_v<Handoff>, "vanishes with its mapping");

/// Waits (spinning, then yielding: the other side may share this CPU) until
/// `word` reaches `target`; false at the deadline.
[[nodiscard]] bool await(const std::atomic<std::uint64_t>& word, std::uint64_t target,
                         Deadline deadline) noexcept {
  for (std::uint64_t spins = 0;; ++spins) {
    if (word.load(std::memory_order_acquire) >= target) return true;
    if (spins < 64) {
      detail::cpu_relax();
      continue;
    }
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
}

// Polls until the flag reads set; false at the deadline.
template <class F>
[[nodiscard]] bool poll_until_set(F& flag, bool remote, Deadline deadline) {
  for (;;) {
    for (std::uint64_t i = 0; i < (remote ? 1 : kPollsPerClockRead); ++i) {
      if (flag.is_set()) return true;
    }
    if (Clock::now() > deadline) return false;
  }
}

template <class F>
ChildExit watch(F& flag, Handoff& handoff, bool sleep, bool remote, std::uint64_t samples) {
  for (std::uint64_t k = 1; k <= samples; ++k) {
    const auto fail = [&](ChildExit why) {
      handoff.failed.store(1, std::memory_order_release);
      return why;
    };
    if (!await(handoff.armed, k, deadline_after(kStepTimeout))) return fail(ChildExit::kStalled);
    if (flag.is_set()) return fail(ChildExit::kCorrupt);  // the parent clears before arming
    handoff.ready.store(k, std::memory_order_release);
    bool seen = false;
    if constexpr (WaitableFlag<F>) {
      if (sleep) seen = flag.wait_until(deadline_after(kStepTimeout));
    }
    if (!sleep) seen = poll_until_set(flag, remote, deadline_after(kStepTimeout));
    if (!seen) return fail(ChildExit::kStalled);
    handoff.seen_ns = now_ns();
    handoff.seen.store(k, std::memory_order_release);
  }
  return ChildExit::kOk;
}

struct Sample {
  bool ok = false;
  double poll_seconds = 0;
  double poll_ns = 0;
  double seen_ns_p50 = 0;
  double seen_ns_p99 = 0;
};

template <class F>
[[nodiscard]] std::optional<double> poll_cost(F& flag, std::uint64_t polls, double& seconds) {
  flag.clear();
  std::uint64_t hits = 0;  // every result counts, so no poll is optimised away
  const auto start = steady_clock::now();
  for (std::uint64_t i = 0; i < polls; ++i) hits += flag.is_set() ? 1 : 0;
  seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
  if (hits != 0) return std::nullopt;  // nobody sets it: a hit is a wrong answer
  return seconds * 1e9 / static_cast<double>(polls);
}

template <class F>
Sample measure(F flag, const FlagInfo& backend, const FlagExperimentConfig& config,
               const Pinning* pinning) {
  Sample sample;
  const ScopedPin pin(pinning, 0);
  const auto cost = poll_cost(flag, backend.remote() ? config.remote_polls : config.polls,
                              sample.poll_seconds);
  if (!cost) return {};
  sample.poll_ns = *cost;

  SharedBox<Handoff> handoff;
  const bool sleep = backend.watcher_sleeps;
  const std::uint64_t samples = kWarmupHandoffs + config.handoffs;
  // Declared after `flag` and `handoff`: killed and reaped before them on
  // every early return.
  ForkedChildren watcher(kJoinTimeout);
  watcher.spawn(
      [&] {
        if (pinning != nullptr) pinning->pin(1);
      },
      [&] { return watch(flag, *handoff, sleep, backend.remote(), samples); });
  if (!watcher.start()) return {};
  std::vector<double> delays;
  delays.reserve(config.handoffs);
  for (std::uint64_t k = 1; k <= samples; ++k) {
    flag.clear();
    handoff->armed.store(k, std::memory_order_release);
    if (!await(handoff->ready, k, deadline_after(kStepTimeout))) return {};
    if (sleep) std::this_thread::sleep_for(kSleepSettle);
    const std::int64_t set_ns = now_ns();
    flag.set();
    if (!await(handoff->seen, k, deadline_after(kStepTimeout))) return {};
    if (k > kWarmupHandoffs) delays.push_back(static_cast<double>(handoff->seen_ns - set_ns));
  }
  if (!watcher.join_within(kJoinTimeout).ok() || handoff->failed.load() != 0) return {};
  sample.seen_ns_p50 = percentile(delays, 50);
  sample.seen_ns_p99 = percentile(delays, 99);
  sample.ok = true;
  return sample;
}

Sample run_once(const FlagInfo& backend, const FlagExperimentConfig& config,
                const Pinning* pinning, detail::ExperimentServers& servers) {
  return visit_flag(Backends{}, backend.name, [&]<class E>(std::type_identity<E>) {
    return measure(make_flag<E>(servers), backend, config, pinning);
  });
}

struct Cell {
  const FlagInfo* backend;
  Repeats runs;  // seconds: the poll loop's; figures: the row's metrics

  void add(const Sample& s) {
    if (!s.ok) return runs.fail();
    runs.add(s.poll_seconds, {{"poll_ns", s.poll_ns},
                              {"seen_ns_p50", s.seen_ns_p50},
                              {"seen_ns_p99", s.seen_ns_p99}});
  }
};

Measurement to_row(const Cell& cell, const FlagExperimentConfig& config, bool pinned,
                   const std::string& cpus) {
  Measurement row;
  row.experiment = "ipc";
  row.variant = std::string(cell.backend->name);
  row.workers = 2;
  row.params = {
      {"mode", std::string("flag")},
      {"polls",
       static_cast<std::int64_t>(cell.backend->remote() ? config.remote_polls : config.polls)},
      {"handoffs", static_cast<std::int64_t>(config.handoffs)},
      {"pinned", pinned}};
  if (pinned) row.params.emplace_back("cpus", cpus);
  cell.runs.fill(row);
  if (row.repeats == 0) return row;
  for (const char* metric : {"poll_ns", "seen_ns_p50", "seen_ns_p99"}) {
    row.metrics.emplace_back(metric, cell.runs.figure(metric).median());
  }
  return row;
}

std::string known_names() {
  std::string out;
  for (const std::string_view name : kBackendNames) {
    out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

}  // namespace

std::span<const std::string_view> flag_experiment_backends() noexcept { return kBackendNames; }

void validate_flag_experiment_config(const FlagExperimentConfig& config) {
  const auto positive = [](std::uint64_t value, const char* field) {
    if (value == 0) {
      throw_invalid_argument(std::string("FlagExperimentConfig: ") + field +
                             " must be >= 1 (got 0)");
    }
  };
  positive(config.repeats, "repeats");
  positive(config.polls, "polls");
  positive(config.remote_polls, "remote_polls");
  positive(config.handoffs, "handoffs");
  if (config.handoffs > kMaxFlagHandoffs) {
    throw_invalid_argument("FlagExperimentConfig: handoffs must be <= " +
                           std::to_string(kMaxFlagHandoffs) + " (got " +
                           std::to_string(config.handoffs) + ")");
  }
  for (const std::string& name : config.backends) {
    if (std::find(kBackendNames.begin(), kBackendNames.end(), name) == kBackendNames.end()) {
      throw_invalid_argument("FlagExperimentConfig: backends: unknown flag backend '" + name +
                             "' (known: " + known_names() + ")");
    }
  }
}

std::vector<Measurement> run_flag_experiment(
    const FlagExperimentConfig& config, const std::function<void(std::string_view)>& progress) {
  validate_flag_experiment_config(config);
  const Pinning pinning(/*enabled=*/true, /*most=*/2);  // the watcher's side and the setter's
  const bool pinned = config.pin && pinning.size() >= 2;
  detail::ExperimentServers servers(config.redis_url);

  std::vector<Cell> cells;
  for (const FlagInfo& backend : kBackends) {
    if (config.backends.empty() || std::find(config.backends.begin(), config.backends.end(),
                                             backend.name) != config.backends.end()) {
      cells.push_back(Cell{&backend, {}});
    }
  }
  for (unsigned repeat = 0; repeat < config.repeats; ++repeat) {
    for (Cell& cell : cells) {
      if (progress) {
        progress("repeat " + std::to_string(repeat + 1) + "/" + std::to_string(config.repeats) +
                 ": " + std::string(cell.backend->name) + " flag");
      }
      try {
        cell.add(run_once(*cell.backend, config, pinned ? &pinning : nullptr, servers));
      } catch (const std::exception& error) {
        // A backend that cannot be set up here (no redis-server, a failed
        // fork) fails its own row, not the experiment.
        cell.add(Sample{});
        if (progress) progress(std::string(cell.backend->name) + " flag failed: " + error.what());
      }
    }
  }

  std::vector<Measurement> rows;
  rows.reserve(cells.size());
  for (const Cell& cell : cells) rows.push_back(to_row(cell, config, pinned, pinning.cpus_text()));
  return rows;
}

}  // namespace mpkit
