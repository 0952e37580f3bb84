// `mpkit pool`: what a pool task costs, how a CPU-bound map scales with the
// workers, the chunksize sweep and the chunks sawtooth (run_pool_experiment),
// with Python's multiprocessing.Pool measured in the same run
// (run_python_pool_baseline) for the targets' ratios.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "experiment_command.hpp"
#include "mpkit/ipc/experiments/machine.hpp"
#include "mpkit/pools/experiments/pool_experiment.hpp"
#include "mpkit/pools/experiments/python_baseline.hpp"
#include "options.hpp"
#include "output/format.hpp"
#include "output/plot.hpp"
#include "output/targets.hpp"

namespace mpkit::cli {
namespace {

// The largest values the flags take (the library takes any; these keep a
// typo from asking for terabytes).
constexpr std::uint64_t kMaxOverheadInputs = 1'000'000'000;
constexpr std::uint64_t kMaxSweepWorkers = 4096;  // PoolOptions::workers
constexpr std::uint64_t kMaxChunksize = std::uint64_t{1} << 40;

struct PoolOptions {
  ExperimentOptions common;
  PoolExperimentConfig config;
  bool no_python = false;
  std::string plot_path;
};

// Speedup against the workers, beside the ideal (linear up to the cores,
// flat past them).
LinePlot sweep_plot(const std::vector<Measurement>& sweep, unsigned cores) {
  LinePlot plot;
  plot.title = "Pool-size sweep: speedup over serial vs worker processes";
  plot.x_label = "worker processes";
  plot.y_label = "speedup";
  PlotSeries measured{"ProcessPool", {}};
  PlotSeries ideal{"ideal", {}};
  for (const Measurement& row : sweep) {
    const auto speedup = find_metric(row, "speedup");
    if (row.variant != "process" || !speedup) continue;
    measured.points.emplace_back(row.workers, *speedup);
    ideal.points.emplace_back(row.workers, std::min<double>(row.workers, cores));
  }
  plot.series = {std::move(measured), std::move(ideal)};
  return plot;
}

std::string text_param(const Measurement& row, std::string_view key) {
  const ParamValue* value = find_param(row, key);
  return value != nullptr ? param_text(*value) : std::string();
}

std::vector<Measurement> part(const std::vector<Measurement>& rows, std::string_view name) {
  std::vector<Measurement> out;
  std::copy_if(rows.begin(), rows.end(), std::back_inserter(out),
               [&](const Measurement& row) { return text_param(row, "part") == name; });
  return out;
}

std::optional<double> metric_where(const std::vector<Measurement>& rows, std::string_view variant,
                                   std::string_view part_name, std::string_view chunksize,
                                   std::string_view metric, unsigned workers = 0) {
  for (const Measurement& row : rows) {
    if (row.variant != variant || !row.correct || text_param(row, "part") != part_name) continue;
    if (!chunksize.empty() && text_param(row, "chunksize") != chunksize) continue;
    if (workers != 0 && row.workers != workers) continue;
    if (const auto value = find_metric(row, metric)) return value;  // the first (smallest) input
  }
  return std::nullopt;
}

std::vector<std::string> notes(const std::vector<Measurement>& rows, const std::string& python) {
  std::vector<std::string> out;
  if (!python.empty()) out.push_back("python baseline: " + python);
  for (const char* chunksize : {"1", "default"}) {
    const double target = std::string_view(chunksize) == "1" ? 20.0 : 10.0;
    const auto mine = metric_where(rows, "process", "overhead", chunksize, "tasks_per_s");
    const auto theirs = metric_where(rows, "python", "overhead", chunksize, "tasks_per_s");
    const auto threads = metric_where(rows, "thread", "overhead", chunksize, "tasks_per_s");
    if (mine && theirs && *theirs > 0) {
      out.push_back(fmt::format(
          "target no-op, chunksize {}: ProcessPool {} vs Python Pool.map {} = {:.1f}x (target >= "
          "{:.0f}x: {}){}",
          chunksize, format_metric("tasks_per_s", *mine), format_metric("tasks_per_s", *theirs),
          *mine / *theirs, target, verdict(*mine / *theirs >= target),
          threads ? fmt::format("; ThreadPool {}", format_metric("tasks_per_s", *threads)) : ""));
    }
  }
  if (const auto start = metric_where(rows, "process", "startup", "", "start_join_us_p50")) {
    const auto python_start = metric_where(rows, "python", "startup", "", "start_join_us_p50");
    out.push_back(fmt::format("target start to join of a 2-worker ProcessPool <= 1 ms: {:.0f} us "
                              "({}){}",
                              *start, verdict(*start <= 1000),
                              python_start ? fmt::format("; Python {:.0f} us", *python_start) : ""));
  }
  if (const auto speedup = metric_where(rows, "process", "sweep", "", "speedup", 2)) {
    const auto ceiling = metric_where(rows, "ceiling", "ceiling", "", "speedup", 2);
    if (ceiling && *ceiling > 0) {
      out.push_back(fmt::format("target 2 workers at the default chunksize >= 0.95 x this run's "
                                "ceiling (2 independent processes: {:.2f}x): {:.2f}x = {:.2f} of it "
                                "({})",
                                *ceiling, *speedup, *speedup / *ceiling,
                                verdict(*speedup >= 0.95 * *ceiling)));
    } else {
      out.push_back(fmt::format("CPU-bound speedup at 2 workers: {:.2f}x over serial (no ceiling "
                                "measured in this run: add --parts ceiling to read it)",
                                *speedup));
    }
  }
  // The chunksize sweep against its own best, and the driver's CPU share.
  const std::vector<Measurement> chunk_rows = part(rows, "chunksize");
  std::optional<double> best;
  for (const Measurement& row : chunk_rows) {
    if (row.correct && row.variant == "process" && (!best || row.seconds.median < *best)) best = row.seconds.median;
  }
  for (const auto& [chunksize, limit] : {std::pair<const char*, double>{"10", 1.15}, {"1", 1.6}}) {
    for (const Measurement& row : chunk_rows) {
      if (!best || !row.correct || text_param(row, "chunksize") != chunksize) continue;
      out.push_back(fmt::format("target chunksize {} within {:.2f}x of the best chunksize's time: "
                                "{:.2f}x ({})",
                                chunksize, limit, row.seconds.median / *best,
                                verdict(row.seconds.median <= limit * *best)));
    }
  }
  for (const Measurement& row : chunk_rows) {
    const auto pct = find_metric(row, "parent_cpu_pct");
    if (!row.correct || !pct) continue;
    const std::string chunksize = text_param(row, "chunksize");
    const double limit = chunksize == "1" ? 25.0 : 10.0;
    if (chunksize != "1" && chunksize != "10" && chunksize != "100" && chunksize != "default") continue;
    out.push_back(fmt::format("target the parent's CPU time <= {:.0f} % of the wall time at "
                              "chunksize {}: {:.1f} % ({})",
                              limit, chunksize, *pct, verdict(*pct <= limit)));
  }
  if (const auto ratio = metric_where(rows, "process", "submit", "", "ratio_to_ideal")) {
    out.push_back(fmt::format("target 80 submits of 5 ms sleeps on 4 workers <= 1.2x of 100 ms: "
                              "{:.2f}x ({})",
                              *ratio, verdict(*ratio <= 1.2)));
  }
  if (const auto rtt = metric_where(rows, "process", "submit", "", "rtt_us_p50")) {
    const auto threads = metric_where(rows, "thread", "submit", "", "rtt_us_p50");
    out.push_back(fmt::format("submit(...).get() round trip, p50: ProcessPool {:.1f} us{}", *rtt,
                              threads ? fmt::format(", ThreadPool {:.1f} us", *threads) : ""));
  }
  for (const Measurement& row : rows) {
    if (!row.correct && !(row.variant == "python" && !python.empty() && row.repeats == 0)) {
      out.push_back(fmt::format("WARNING: {} {} (workers {}) is incorrect or did not run ({} runs "
                                "completed)",
                                row.variant, text_param(row, "part"), row.workers, row.repeats));
    }
  }
  return out;
}

ExperimentReport pool_report(const PoolExperimentConfig& config, bool with_python,
                             const std::filesystem::path& plot_path, Progress& progress) {
  const auto start = std::chrono::steady_clock::now();
  ExperimentReport report;
  report.name = "pool";
  report.rows = run_pool_experiment(config, [&](std::string_view step) { progress.update(step); });
  const bool overhead = config.parts.empty() || std::find(config.parts.begin(), config.parts.end(),
                                                          "overhead") != config.parts.end();
  std::string python;
  if (with_python && overhead) {
    progress.update("python multiprocessing.Pool baseline");
    PythonBaselineConfig baseline;
    baseline.repeats = config.repeats;
    baseline.workers = config.overhead_workers;
    baseline.startup_runs = std::min(config.startup_runs, 10u);
    PythonBaseline measured = run_python_pool_baseline(baseline);
    python = measured.error.empty() ? measured.version : "not measured: " + measured.error;
    report.rows.insert(report.rows.end(), measured.rows.begin(), measured.rows.end());
  }
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.summary = fmt::format("ProcessPool beside ThreadPool{}: {} repeats, {} cores available (nproc)",
                               with_python && overhead ? " and Python's multiprocessing.Pool" : "",
                               config.repeats, machine_info().cores_available);
  std::vector<std::string> words = {"mpkit", "pool", "--repeat", std::to_string(config.repeats)};
  if (!config.parts.empty()) {
    std::string parts;
    for (const std::string& p : config.parts) parts += (parts.empty() ? "" : ",") + p;
    words.insert(words.end(), {"--parts", parts});
  }
  words.insert(words.end(), {"--range", fmt::format("{}:{}", config.range_begin, config.range_end)});
  if (config.shuffle) words.emplace_back("--shuffle");
  if (!with_python) words.emplace_back("--no-python");
  report.command_line = command_line(words);

  const RowColumns speed{{{"inputs", "inputs"}, {"chunksize", "chunksize"}}, {{"tasks_per_s", "tasks/s"}}};
  const RowColumns scaling{{{"chunksize", "chunksize"}, {"chunks", "chunks"}},
                           {{"speedup", "speedup"},
                            {"of_ceiling", "of ceiling"},
                            {"efficiency", "efficiency"},
                            {"parent_cpu_s", "parent CPU"},
                            {"parent_cpu_pct", "parent %"},
                            {"primes", "primes"}}};
  if (auto rows = part(report.rows, "overhead"); !rows.empty()) {
    report.tables.push_back({"Per-task overhead: a no-op mapped over the inputs", rows_table(rows, speed)});
  }
  if (auto rows = part(report.rows, "startup"); !rows.empty()) {
    report.tables.push_back({"Start to join of a 2-worker pool, no task",
                             rows_table(rows, {{}, {{"start_join_us_p50", "median us"}}})});
  }
  if (auto rows = part(report.rows, "submit"); !rows.empty()) {
    report.tables.push_back({"Work submitted one task at a time: 80 sleeps of 5 ms on 4 workers, and "
                             "submit(noop).get() round trips",
                             rows_table(rows, {{{"mode", "mode"}},
                                               {{"ratio_to_ideal", "x ideal"},
                                                {"rtt_us_p50", "p50 us"},
                                                {"rtt_us_p99", "p99 us"}}})});
  }
  if (auto rows = part(report.rows, "ceiling"); !rows.empty()) {
    report.tables.push_back({"The machine's parallel ceiling: N independent processes each doing the "
                             "serial job (no pool, no IPC)",
                             rows_table(rows, {{}, {{"speedup", "speedup"}, {"efficiency", "efficiency"}}})});
  }
  const std::string range = fmt::format("[{}, {})", config.range_begin, config.range_end);
  if (auto rows = part(report.rows, "sweep"); !rows.empty()) {
    report.tables.push_back({"Pool-size sweep: trial division over " + range +
                                 ", default chunksize (workers above the cores oversubscribe)",
                             rows_table(rows, scaling)});
  }
  if (auto rows = part(report.rows, "chunksize"); !rows.empty()) {
    report.tables.push_back({"Chunksize sweep over " + range, rows_table(rows, scaling)});
  }
  if (auto rows = part(report.rows, "chunks"); !rows.empty()) {
    report.tables.push_back({"Number of chunks (chunksize = len / chunks): minima at multiples of "
                             "the workers",
                             rows_table(rows, scaling)});
  }
  report.notes = notes(report.rows, python);
  if (const auto sweep = part(report.rows, "sweep"); !sweep.empty() && !plot_path.empty()) {
    const auto why_not = write_png(sweep_plot(sweep, machine_info().cores_available), plot_path);
    report.notes.push_back(why_not ? *why_not : "plot: " + plot_path.string());
  }
  return report;
}

}  // namespace

Command pool_command() {
  Command command;
  command.name = "pool";
  command.summary = "Measure pool task overhead, pool-size scaling and chunksizes (vs Python)";
  command.setup = [](CLI::App& sub) -> Action {
    auto options = std::make_shared<PoolOptions>();
    add_experiment_options(sub, options->common);
    auto& config = options->config;
    std::string parts_help = "parts to run, comma-separated (default: all:";
    std::vector<std::string> part_names;
    for (const std::string_view p : pool_experiment_parts()) {
      parts_help += " " + std::string(p);
      part_names.emplace_back(p);
    }
    add_list_option(sub, "--parts", config.parts, parts_help + ")",
                    CLI::Validator(
                        [part_names](std::string& text) -> std::string {
                          if (std::find(part_names.begin(), part_names.end(), text) != part_names.end()) return {};
                          return fmt::format("unknown part '{}'", shown(text));
                        },
                        "NAME", "known_part"));
    const auto list_text = [](const auto& values) {
      std::string text;
      for (const auto& v : values) text += (text.empty() ? "" : ",") + std::to_string(v);
      return text;
    };
    add_list_option(sub, "--overhead-inputs", config.overhead_inputs,
                    "no-op inputs per overhead run, comma-separated",
                    whole_number_in(1, kMaxOverheadInputs))
        ->default_str(list_text(config.overhead_inputs));
    add_list_option(sub, "--workers", config.sweep_workers,
                    "pool sizes of the sweep, comma-separated (default: 1 .. 2 x cores)",
                    whole_number_in(1, kMaxSweepWorkers));
    add_list_option(sub, "--chunksizes", config.chunksizes,
                    "chunksizes of the chunksize sweep (0 = Python's default; one beyond the "
                    "input is one chunk)",
                    whole_number_in(0, kMaxChunksize))
        ->default_str(list_text(config.chunksizes));
    sub.add_option("--max-chunks", config.max_chunks, "the chunks sawtooth runs 1 .. this")
        ->check(whole_number_in(1, 4096))
        ->capture_default_str();
    sub.add_option_function<std::string>(
           "--range",
           [&config](const std::string& text) {
             const auto colon = text.find(':');
             const auto number = [&](std::string_view digits, std::uint64_t& out) {
               const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
               return !digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos &&
                      ec == std::errc{} && end == digits.data() + digits.size();
             };
             std::uint64_t begin = 0;
             std::uint64_t end = 0;
             const std::string_view view(text);
             if (colon == std::string::npos || !number(view.substr(0, colon), begin) ||
                 !number(view.substr(colon + 1), end)) {
               throw CLI::ValidationError(
                   "--range", fmt::format("value '{}' is not BEGIN:END (two whole numbers)", shown(text)));
             }
             if (end <= begin) {
               throw CLI::ValidationError("--range", fmt::format("END must be above BEGIN (got {})", text));
             }
             config.range_begin = begin;
             config.range_end = end;
           },
           "candidates of the CPU-bound map, BEGIN:END (default: range B, 100000000:100100000)")
        ->type_name("BEGIN:END");
    sub.add_flag("--shuffle", config.shuffle,
                 std::string("shuffle the candidates so cheap and expensive ones mix"));
    sub.add_flag("--no-python", options->no_python,
                 std::string("skip Python's multiprocessing.Pool baseline"));
    sub.add_option("--plot", options->plot_path, "write a PNG of the sweep: speedup vs workers")
        ->check(non_empty())
        ->type_name("FILE");
    sub.footer(
        "Parts (EXPERIMENTS.md sections 2 and 7):\n"
        "  overhead   a no-op mapped over --overhead-inputs items at chunksize 1 and the default\n"
        "             (ceil(n / (4 x workers)), Python's), 2 workers: ProcessPool, ThreadPool and\n"
        "             Python's multiprocessing.Pool (python3, measured in this run), tasks/s\n"
        "  sweep      trial division over --range on 1 .. 2 x cores workers: seconds, speedup\n"
        "             and efficiency against serial (the oversubscribed points included)\n"
        "  chunksize  the same map at each of --chunksizes\n"
        "  chunks     chunksize = len / k for k = 1 .. --max-chunks: the sawtooth\n"
        "  startup    construct, close and join a 2-worker pool (and Python's Pool(2))\n"
        "  submit     80 tasks sleeping 5 ms submitted one by one on 4 workers (against the\n"
        "             ideal 100 ms), and submit(noop).get() round trips (p50, p99)\n"
        "  ceiling    N = 1 .. cores independent processes each doing the serial job: the\n"
        "             machine's own parallel ceiling, measured in this run; the sweep and\n"
        "             chunksize rows give their speedup as a fraction of it (of ceiling)\n"
        "Sweep and chunksize rows also give the driving thread's CPU time (parent CPU, %).\n"
        "Every row is checked against the serial answer (ok = NO otherwise). The notes give the\n"
        "targets as ratios measured in this run (met / MISSED).\n"
        "\n"
        "Examples:\n"
        "  mpkit pool\n"
        "  mpkit pool --parts overhead,startup --repeat 9\n"
        "  mpkit pool --parts sweep --workers 1,2,3,4 --shuffle --plot sweep.png\n");
    return [options](const std::vector<std::string>& /*argv*/) {
      options->config.repeats = options->common.repeat;
      try {
        validate_pool_experiment_config(options->config);
      } catch (const std::invalid_argument& error) {
        throw UsageError(error.what());
      }
      return run_experiment_command("pool", options->common, [&](Progress& progress) {
        return pool_report(options->config, !options->no_python, options->plot_path, progress);
      });
    };
  };
  command.quick = [](const SuiteContext& context) {
    PoolExperimentConfig config;
    config.repeats = context.repeat ? *context.repeat : 3;
    config.overhead_inputs = {100'000};
    config.chunksizes = {0, 1, 10, 100, 1000, 10000};
    config.max_chunks = 8;
    config.startup_runs = 10;
    const std::filesystem::path plot =
        context.out_dir.empty() ? std::filesystem::path() : context.out_dir / "pool_sweep.png";
    return pool_report(config, true, plot, *context.progress);
  };
  return command;
}

}  // namespace mpkit::cli
