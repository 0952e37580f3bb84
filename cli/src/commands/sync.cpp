// `mpkit sync`: wake-up and lock costs between processes (run_sync_experiment).

#include <algorithm>
#include <array>
#include <chrono>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <variant>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "experiment_command.hpp"
#include "mpkit/ipc/experiments/machine.hpp"
#include "mpkit/locking/experiments/sync_experiment.hpp"
#include "options.hpp"
#include "output/format.hpp"
#include "output/json_rows.hpp"
#include "output/targets.hpp"

namespace mpkit::cli {
namespace {

// mpkit's mutex is robust; these are the locks it competes with that do not
// pay for robustness, so "mpkit-mutex vs the fastest of these" is the price
// (or the gain) of its design.
constexpr std::array<std::string_view, 2> kNonRobustLocks = {"pthread-pshared", "boost-interprocess"};
constexpr std::string_view kMpkitMutex = "mpkit-mutex";

struct SyncOptions {
  ExperimentOptions common;
  std::uint64_t round_trips = SyncConfig{}.handoff_round_trips;
  std::uint64_t iterations = SyncConfig{}.lock_iterations;
  bool pin = false;
};

bool is_mode(const Measurement& row, std::string_view mode) {
  const ParamValue* value = find_param(row, "mode");
  if (value == nullptr) return mode.empty();  // hand-off rows have no mode
  return std::holds_alternative<std::string>(*value) && std::get<std::string>(*value) == mode;
}

// The row of `variant` in `mode` that completed and carries `metric`.
std::optional<double> metric_of(const std::vector<Measurement>& rows, std::string_view variant,
                                std::string_view mode, std::string_view metric) {
  for (const Measurement& row : rows) {
    if (row.variant == variant && is_mode(row, mode) && row.correct) return find_metric(row, metric);
  }
  return std::nullopt;
}

// "uncontended: mpkit-mutex 4.20 ns vs pthread-pshared 6.70 ns (fastest non-robust): 0.63x the time"
std::optional<std::string> ratio_note(const std::vector<Measurement>& rows, std::string_view mode,
                                      std::string_view metric, bool lower_is_better) {
  const auto mine = metric_of(rows, kMpkitMutex, mode, metric);
  const auto best = best_of(
      kNonRobustLocks, [&](std::string_view name) { return metric_of(rows, name, mode, metric); },
      lower_is_better);
  if (!mine || !best || best->value <= 0) return std::nullopt;
  return fmt::format("{}: {} {} vs {} {} (fastest non-robust): {:.2f}x the {}", mode, kMpkitMutex,
                     format_metric(metric, *mine), best->name, format_metric(metric, best->value),
                     *mine / best->value, lower_is_better ? "time per operation" : "throughput");
}

std::vector<std::string> notes(const std::vector<Measurement>& rows) {
  std::vector<std::string> out;
  const auto futex = metric_of(rows, "futex-handoff", "", "one_way_ns");
  const auto spin = metric_of(rows, "spin-handoff", "", "one_way_ns");
  if (futex && spin && *spin > 0) {
    out.push_back(fmt::format("wake-up one way: futex {} vs spinning {} ({:.0f}x)",
                              format_metric("one_way_ns", *futex), format_metric("one_way_ns", *spin),
                              *futex / *spin));
  }
  if (auto note = ratio_note(rows, "uncontended", "ns_per_op", true)) out.push_back(*note);
  if (auto note = ratio_note(rows, "contended", "ops_per_s", false)) out.push_back(*note);
  if (!metric_of(rows, kMpkitMutex, "uncontended", "ns_per_op")) {
    out.push_back("mpkit-mutex: no completed measurement, so no ratio");
  }
  for (const Measurement& row : rows) {
    if (!row.correct) {
      const ParamValue* mode = find_param(row, "mode");
      out.push_back(fmt::format("WARNING: {}{} is incorrect: a child stopped answering, a lock "
                                "failed, or updates were lost ({} of the runs completed)",
                                row.variant, mode != nullptr ? " " + param_text(*mode) : "",
                                row.repeats));
    }
  }
  return out;
}

// Lock rows carry a "mode" param, hand-off rows none.
std::vector<Measurement> select(const std::vector<Measurement>& rows, bool locks) {
  std::vector<Measurement> out;
  std::copy_if(rows.begin(), rows.end(), std::back_inserter(out), [&](const Measurement& row) {
    return (find_param(row, "mode") != nullptr) == locks;
  });
  return out;
}

ExperimentReport sync_report(const SyncConfig& config, Progress& progress) {
  const auto start = std::chrono::steady_clock::now();
  ExperimentReport report;
  report.name = "sync";
  report.rows = run_sync_experiment(config, [&](std::string_view step) { progress.update(step); });
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.summary = fmt::format(
      "wake-ups and locks between processes: {} repeats, {}, {} cores available (nproc)",
      config.repeats, config.pin ? "pinned" : "unpinned", machine_info().cores_available);

  std::vector<std::string> words = {"mpkit", "sync", "--repeat", std::to_string(config.repeats),
                                    "--round-trips", std::to_string(config.handoff_round_trips),
                                    "--iterations", std::to_string(config.lock_iterations)};
  if (config.pin) words.emplace_back("--pin");
  report.command_line = command_line(words);

  report.tables.push_back(
      {fmt::format("Hand-offs: 2 processes ping-pong one shared word, {} round trips per run",
                   config.handoff_round_trips),
       rows_table(select(report.rows, false),
                  {{}, {{"one_way_ns", "one-way"}, {"rtt_ns_p50", "rtt p50"}, {"rtt_ns_p99", "rtt p99"}}})});
  report.tables.push_back(
      {fmt::format("Locks: lock, ++counter, unlock; {} per run (split over 2 processes when contended)",
                   config.lock_iterations),
       rows_table(select(report.rows, true),
                  {{{"mode", "mode"}}, {{"ns_per_op", "per op"}, {"ops_per_s", "total ops"}}})});
  report.notes = notes(report.rows);
  return report;
}

int run_sync(const SyncOptions& options) {
  SyncConfig config;
  config.repeats = options.common.repeat;
  config.handoff_round_trips = options.round_trips;
  config.lock_iterations = options.iterations;
  config.pin = options.pin;

  return run_experiment_command("sync", options.common,
                                [&](Progress& progress) { return sync_report(config, progress); });
}

}  // namespace

Command sync_command() {
  Command command;
  command.name = "sync";
  command.summary = "Measure wake-ups (futex vs spin) and process-shared lock costs";
  command.setup = [](CLI::App& sub) -> Action {
    auto options = std::make_shared<SyncOptions>();
    add_experiment_options(sub, options->common);
    sub.add_option("--round-trips", options->round_trips, "hand-off round trips per run")
        ->check(whole_number_in(1, kMaxHandoffRoundTrips))
        ->capture_default_str();
    sub.add_option("--iterations", options->iterations,
                   "lock+unlock operations per run (contended: shared by the 2 processes)")
        ->check(whole_number_in(1, std::numeric_limits<std::uint64_t>::max()))
        ->capture_default_str();
    sub.add_flag("--pin", options->pin,
                 std::string("pin the two processes to two different CPUs (restored afterwards)"));
    sub.footer(
        "What it measures, between forked processes sharing an anonymous mapping:\n"
        "  futex-handoff  ping-pong on one word, sleeping in futex_wait: the kernel wake-up\n"
        "                 cost (one-way = half the median round trip; p99 too)\n"
        "  spin-handoff   the same ping-pong spinning: the cache-line transfer, the floor\n"
        "  locks          mpkit-mutex, pthread-pshared, pthread-robust, boost-interprocess:\n"
        "                 uncontended (1 process, ns per lock+unlock) and contended (2\n"
        "                 processes, total ops/s, counter checked for lost updates)\n"
        "Every repeat runs every variant once, round-robin, so they are compared under the\n"
        "same load; tables show min/median/max over repeats, then the ratio of mpkit-mutex to\n"
        "the fastest non-robust lock. A child that stops answering is killed and its row is\n"
        "marked incorrect (ok = NO); nothing hangs. The defaults take a few seconds.\n"
        "Unpinned, the kernel tends to wake the sleeper on the waker's CPU, so futex-handoff\n"
        "often measures a context switch on one core; --pin forces a cross-core wake-up.\n"
        "\n"
        "Examples:\n"
        "  mpkit sync\n"
        "  mpkit sync --repeat 9 --pin --json sync.jsonl\n"
        "  mpkit sync --repeat 1 --round-trips 1000 --iterations 100000   # a quick look\n");
    return [options](const std::vector<std::string>& /*argv*/) { return run_sync(*options); };
  };
  command.quick = [](const SuiteContext& context) {
    SyncConfig config;  // the default sizes are already the quick scale
    if (context.repeat) config.repeats = *context.repeat;
    // Pinned in the suite: unpinned, the two sides often share one CPU, and
    // the wake-up and spin figures then flip between two regimes run to run
    // (ARCHITECTURE.md machine notes: pin and report placement). A single CPU cannot be pinned
    // apart.
    config.pin = machine_info().cores_available >= 2;
    return sync_report(config, *context.progress);
  };
  return command;
}

}  // namespace mpkit::cli
