// `mpkit contention`: every lock under one harness, 1 .. 2 x cores workers
// (locking::run_contention_experiment): throughput, fairness, sampled
// acquire latency, the harness's own ceiling, and a plot.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "experiment_command.hpp"
#include "mpkit/ipc/experiments/machine.hpp"
#include "mpkit/locking/experiments/contention_experiment.hpp"
#include "mpkit/locking/registry.hpp"
#include "options.hpp"
#include "output/format.hpp"
#include "output/plot.hpp"
#include "output/targets.hpp"

namespace mpkit::cli {
namespace {

// The sleeping mutexes that do not pay for robustness: the target says
// mpkit's robust Mutex stays within 1.5x of the fastest of them.
constexpr std::array<std::string_view, 3> kNonRobustSleeping = {"pthread", "boost-ipc", "semaphore"};
constexpr std::string_view kMpkitMutex = "mpkit-mutex";

struct ContentionOptions {
  ExperimentOptions common;
  locking::ContentionConfig config;
  std::uint64_t duration_ms = 200;
  bool no_scale = false;
  std::string plot_path;
};

std::optional<double> rate(const std::vector<Measurement>& rows, std::string_view variant,
                           unsigned workers) {
  for (const Measurement& row : rows) {
    if (row.variant == variant && row.workers == workers && row.correct) {
      return find_metric(row, "acq_per_s");
    }
  }
  return std::nullopt;
}

std::vector<std::string> notes(const std::vector<Measurement>& rows,
                               const std::vector<unsigned>& workers) {
  std::vector<std::string> out;
  for (const unsigned w : {1u, 2u}) {
    if (std::find(workers.begin(), workers.end(), w) == workers.end()) continue;
    const auto mine = rate(rows, kMpkitMutex, w);
    const auto best =
        best_of(kNonRobustSleeping, [&](std::string_view name) { return rate(rows, name, w); });
    if (mine && best && *mine > 0) {
      const double ratio = best->value / *mine;  // > 1: mpkit-mutex is slower
      const bool slower = ratio >= 1;
      out.push_back(fmt::format(
          "target {} worker{}: mpkit-mutex {} vs fastest non-robust sleeping mutex {} {}: {:.2f}x "
          "{} (target within 1.5x: {})",
          w, w == 1 ? " (uncontended)" : "s (contended)", format_metric("acq_per_s", *mine),
          best->name, format_metric("acq_per_s", best->value), slower ? ratio : 1 / ratio,
          slower ? "slower" : "faster", verdict(ratio <= 1.5)));
    }
  }
  if (const auto harness = rate(rows, "none", 1)) {
    out.push_back(fmt::format("harness ceiling (no lock, empty critical section, 1 worker): {}",
                              format_metric("acq_per_s", *harness)));
  }
  // Oversubscription: what the FIFO spin locks do past the cores.
  const unsigned cores = machine_info().cores_available;
  const unsigned over = 2 * cores;
  if (std::find(workers.begin(), workers.end(), over) != workers.end()) {
    for (const std::string_view name : {"ticket", "mcs", "tas", "mpkit-mutex"}) {
      const auto at_cores = rate(rows, name, cores);
      const auto beyond = rate(rows, name, over);
      if (at_cores && beyond && *beyond > 0) {
        out.push_back(fmt::format("{} from {} to {} workers: {} -> {} ({:.1f}x {})", name, cores, over,
                                  format_metric("acq_per_s", *at_cores),
                                  format_metric("acq_per_s", *beyond),
                                  *at_cores >= *beyond ? *at_cores / *beyond : *beyond / *at_cores,
                                  *at_cores >= *beyond ? "lower" : "higher"));
      }
    }
  }
  for (const Measurement& row : rows) {
    if (!row.correct) {
      out.push_back(fmt::format("WARNING: {} x {} is incorrect: a lost update, or workers that did "
                                "not stop in time ({} of the runs completed)",
                                row.variant, row.workers, row.repeats));
    }
  }
  return out;
}

LinePlot throughput_plot(const std::vector<Measurement>& rows) {
  LinePlot plot;
  plot.title = "Lock contention: total acquisitions/s vs worker processes";
  plot.x_label = "worker processes";
  plot.y_label = "acquisitions/s (log)";
  plot.log_y = true;
  std::map<std::string, std::size_t> index;
  for (const Measurement& row : rows) {
    const auto value = find_metric(row, "acq_per_s");
    if (!value || *value <= 0) continue;
    const auto [it, added] = index.emplace(row.variant, plot.series.size());
    if (added) plot.series.push_back({row.variant, {}});
    plot.series[it->second].points.emplace_back(row.workers, *value);
  }
  return plot;
}

ExperimentReport contention_report(const locking::ContentionConfig& config,
                                   const std::filesystem::path& plot_path, Progress& progress) {
  const auto start = std::chrono::steady_clock::now();
  ExperimentReport report;
  report.name = "contention";
  report.rows = locking::run_contention_experiment(
      config, [&](std::string_view step) { progress.update(step); });
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::vector<unsigned> workers =
      config.workers.empty() ? locking::default_contention_workers() : config.workers;
  std::string worker_text;
  for (const unsigned w : workers) worker_text += (worker_text.empty() ? "" : ",") + std::to_string(w);
  report.summary = fmt::format(
      "every lock under one harness, workers {}, critical section {} steps, outside work {} "
      "steps{}: {} repeats of {} ms, {}, {} cores available (nproc)",
      worker_text, config.critical_work, config.outside_work,
      config.scale_outside_work ? " x workers" : "", config.repeats, config.duration.count(),
      config.pin ? "pinned" : "unpinned", machine_info().cores_available);
  std::vector<std::string> words = {"mpkit",     "contention",   "--repeat",
                                    std::to_string(config.repeats), "--workers", worker_text,
                                    "--duration-ms", std::to_string(config.duration.count()),
                                    "--critical-work", std::to_string(config.critical_work),
                                    "--outside-work", std::to_string(config.outside_work)};
  if (!config.locks.empty()) {
    std::string locks;
    for (const std::string& l : config.locks) locks += (locks.empty() ? "" : ",") + l;
    words.insert(words.end(), {"--locks", locks});
  }
  if (!config.scale_outside_work) words.emplace_back("--no-scale");
  if (config.pin) words.emplace_back("--pin");
  report.command_line = command_line(words);
  report.tables.push_back(
      {"Contention: total acquisitions/s (spread over repeats), fairness and sampled lock() latency",
       rows_table(report.rows, {{{"outside_per_worker", "outside"}},
                                {{"acq_per_s", "acq/s"},
                                 {"acq_per_s_min", "min"},
                                 {"acq_per_s_max", "max"},
                                 {"jain", "jain"},
                                 {"share_min", "share min"},
                                 {"latency_ns_p50", "lock p50"},
                                 {"latency_ns_p99", "lock p99"}}})});
  report.notes = notes(report.rows, workers);
  if (!plot_path.empty()) {
    if (const auto why_not = write_png(throughput_plot(report.rows), plot_path)) {
      report.notes.push_back(*why_not);
    } else {
      report.notes.push_back("plot: " + plot_path.string());
    }
  }
  return report;
}

}  // namespace

Command contention_command() {
  Command command;
  command.name = "contention";
  command.summary = "Every lock under contention, 1 to 2x cores workers: throughput, fairness, latency";
  command.setup = [](CLI::App& sub) -> Action {
    auto options = std::make_shared<ContentionOptions>();
    options->common.repeat = options->config.repeats;
    add_experiment_options(sub, options->common);
    auto& config = options->config;
    std::string known;
    for (const std::string_view name : locking::lock_names()) known += (known.empty() ? "" : ", ") + std::string(name);
    add_list_option(sub, "--locks", config.locks, "locks, comma-separated (default: all: " + known + ")",
                    CLI::Validator(
                        [known](std::string& text) -> std::string {
                          const auto names = locking::lock_names();
                          if (std::find(names.begin(), names.end(), text) != names.end()) return {};
                          return fmt::format("unknown lock '{}' (known: {})", shown(text), known);
                        },
                        "NAME", "known_lock"));
    add_list_option(sub, "--workers", config.workers, "worker counts, comma-separated (default: 1 .. 2 x cores)",
                    whole_number_in(1, locking::kMaxContentionWorkers));
    constexpr std::uint64_t kMaxWork = std::numeric_limits<std::uint32_t>::max();
    sub.add_option("--critical-work", config.critical_work, "work steps inside the critical section")
        ->check(whole_number_in(0, kMaxWork))
        ->capture_default_str();
    sub.add_option("--outside-work", config.outside_work,
                   "work steps between acquisitions (x workers unless --no-scale)")
        ->check(whole_number_in(0, kMaxWork))
        ->capture_default_str();
    sub.add_flag("--no-scale", options->no_scale,
                 std::string("do not scale the outside work with the number of workers"));
    sub.add_flag("--pin", config.pin, std::string("pin worker i to the (i mod n)-th allowed CPU"));
    sub.add_option("--duration-ms", options->duration_ms, "one measured window, in ms")
        ->check(whole_number_in(1, 600'000))
        ->capture_default_str();
    sub.add_option("--sample-every", config.sample_every, "time one acquisition in this many")
        ->check(whole_number_in(1, 1u << 30))
        ->capture_default_str();
    sub.add_option("--plot", options->plot_path, "write a PNG: acquisitions/s vs workers, one line per lock")
        ->check(non_empty())
        ->type_name("FILE");
    sub.footer(
        "Every lock of mpkit::locking (EXPERIMENTS.md section 6) under one harness: --workers\n"
        "processes loop lock(); --critical-work steps on the guarded counter; unlock();\n"
        "--outside-work steps (times the workers by default, so the contention ratio holds).\n"
        "Throughput counts acquisitions in registers and a stop flag ends the window: no clock\n"
        "read per acquisition (a clock read costs ~10 TAS acquisitions here); latency comes\n"
        "from one sampled acquisition in --sample-every. Reported per (lock, workers): total\n"
        "acquisitions/s (median, min, max over repeats: contended figures move 4x between runs\n"
        "on this VM), Jain's fairness index and the smallest worker's share, lock() p50/p99.\n"
        "The 'none' row runs the loop with no lock: the harness's own ceiling. Past the cores,\n"
        "FIFO spin locks (ticket, MCS) collapse: a waiter whose turn comes while it is\n"
        "descheduled stalls everyone. A holder that dies fails its row, never hangs.\n"
        "\n"
        "Examples:\n"
        "  mpkit contention --plot contention.png\n"
        "  mpkit contention --locks tas,ticket,mcs,mpkit-mutex --workers 1,2,4 --outside-work 100\n"
        "  mpkit contention --pin --repeat 9 --json contention.jsonl\n");
    return [options](const std::vector<std::string>& /*argv*/) {
      locking::ContentionConfig chosen = options->config;
      chosen.repeats = options->common.repeat;
      chosen.duration = std::chrono::milliseconds(options->duration_ms);
      chosen.scale_outside_work = !options->no_scale;
      for (const std::string& name : chosen.locks) {
        const auto names = locking::lock_names();
        if (std::find(names.begin(), names.end(), name) == names.end()) {
          throw UsageError(fmt::format("--locks: unknown lock '{}' (see mpkit contention --help)", name));
        }
      }
      return run_experiment_command("contention", options->common, [&](Progress& progress) {
        return contention_report(chosen, options->plot_path, progress);
      });
    };
  };
  command.quick = [](const SuiteContext& context) {
    locking::ContentionConfig config;
    config.repeats = context.repeat ? *context.repeat : 2;
    config.duration = std::chrono::milliseconds(100);
    config.outside_work = 50;  // SOSP 2013: a tight loop flatters throughput
    const std::filesystem::path plot =
        context.out_dir.empty() ? std::filesystem::path() : context.out_dir / "contention.png";
    return contention_report(config, plot, *context.progress);
  };
  return command;
}

}  // namespace mpkit::cli
