// `mpkit pi`: Monte Carlo pi on ProcessPool and ThreadPool, the scalar and
// the vector kernel (run_pi_experiment), with the book's Python versions
// measured in the same run (run_python_pi) for the C++ / Python ratios.

#include <algorithm>
#include <chrono>
#include <cmath>
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
#include "mpkit/pi/experiments/pi_experiment.hpp"
#include "mpkit/pi/experiments/python_pi.hpp"
#include "mpkit/pi/kernels.hpp"
#include "options.hpp"
#include "output/format.hpp"
#include "output/plot.hpp"

namespace mpkit::cli {
namespace {

constexpr std::uint64_t kMaxDarts = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

struct PiOptions {
  ExperimentOptions common;
  PiExperimentConfig config;
  std::string mode = "both";
  std::string kernel = "both";
  bool no_python = false;
  bool no_ceiling = false;
  std::uint64_t python_darts = 2'000'000;
  std::string plot_path;
};

// A dart count: digits, or digits 'e' digits (1e8), rewritten to digits; the
// message names the bad value (CLI11 prefixes the option's name).
CLI::Validator dart_count() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto e = text.find_first_of("eE");
        const std::string mantissa = text.substr(0, e);
        const std::string exponent = e == std::string::npos ? "0" : text.substr(e + 1);
        const auto digits_only = [](const std::string& s) {
          return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
        };
        if (text.starts_with('-')) return fmt::format("value {} is out of range (must be >= 1)", text);
        if (!digits_only(mantissa) || !digits_only(exponent)) {
          return fmt::format("value '{}' is not a whole number of darts (e.g. 100000000 or 1e8)", text);
        }
        const auto too_big = [&] { return fmt::format("value {} is out of range (must be <= 2^63 - 1)", text); };
        if (mantissa.size() > 19 || exponent.size() > 2) return too_big();
        std::uint64_t value = std::stoull(mantissa);
        for (int k = std::stoi(exponent); k > 0 && value != 0; --k) {
          if (value > kMaxDarts / 10) return too_big();
          value *= 10;
        }
        if (value > kMaxDarts) return too_big();
        if (value == 0) return fmt::format("value {} is out of range (must be >= 1)", text);
        text = std::to_string(value);
        return {};
      },
      "1..2^63-1", "dart_count");
}

std::string text_param(const Measurement& row, std::string_view key) {
  const ParamValue* value = find_param(row, key);
  return value != nullptr ? param_text(*value) : std::string();
}

const Measurement* find_row(const std::vector<Measurement>& rows, std::string_view variant, std::string_view kernel,
                            unsigned workers, std::string_view reseed = "per-block") {
  for (const Measurement& row : rows) {
    if (row.variant == variant && text_param(row, "kernel") == kernel && row.workers == workers &&
        text_param(row, "reseed") == reseed) {
      return &row;
    }
  }
  return nullptr;
}

double metric(const Measurement& row, std::string_view key) { return find_metric(row, key).value_or(0); }

std::string verdict(bool met) { return met ? "met" : "MISSED"; }

// C++ rows beside Python's: scalar against the pure-Python (lists) port,
// vector against the numpy port, same mode and workers.
const Measurement* cpp_peer(const std::vector<Measurement>& rows, const Measurement& python) {
  const std::string mode = python.variant.substr(std::string_view("python-").size());
  return find_row(rows, mode, text_param(python, "kernel") == "lists" ? "scalar" : "vector", python.workers);
}

Table results_table(const std::vector<Measurement>& rows, bool python) {
  Table table({{"variant"}, {"kernel"}, {"reseed"}, {"workers", Align::kRight}, {"estimate", Align::kRight},
               {"|error|", Align::kRight}, {"std errors", Align::kRight}, {"darts", Align::kRight},
               {"median", Align::kRight}, {"darts/s", Align::kRight},
               {python ? "C++ / Python" : "speedup", Align::kRight}, {"ok"}});
  for (const Measurement& row : rows) {
    if (row.variant.starts_with("python") != python || row.variant == "ceiling") continue;
    std::string last = "-";
    if (python) {
      if (const Measurement* peer = cpp_peer(rows, row); peer != nullptr && metric(row, "darts_per_s") > 0) {
        last = fmt::format("{:.1f}x", metric(*peer, "darts_per_s") / metric(row, "darts_per_s"));
      }
    } else if (const auto speedup = find_metric(row, "speedup")) {
      last = fmt::format("{:.2f}x", *speedup);
    }
    if (row.repeats == 0) {
      table.add_row({row.variant, text_param(row, "kernel"), text_param(row, "reseed"), std::to_string(row.workers),
                     "-", "-", "-", text_param(row, "darts"), "-", "-", "-", "NO"});
      continue;
    }
    table.add_row({row.variant, text_param(row, "kernel"), text_param(row, "reseed"), std::to_string(row.workers),
                   fmt::format("{:.7f}", metric(row, "estimate")), fmt::format("{:.2e}", metric(row, "abs_error")),
                   fmt::format("{:.2f}", metric(row, "std_errors")), text_param(row, "darts"),
                   format_metric("seconds", row.seconds.median),
                   format_metric("darts_per_s", metric(row, "darts_per_s")), last, row.correct ? "yes" : "NO"});
  }
  return table;
}

LinePlot speedup_plot(const std::vector<Measurement>& rows, const std::vector<unsigned>& counts, unsigned cores) {
  LinePlot plot;
  plot.title = "Monte Carlo pi: speedup over 1 worker vs workers";
  plot.x_label = "workers";
  plot.y_label = "speedup";
  for (const char* variant : {"processes", "threads"}) {
    for (const char* kernel : {"scalar", "vector"}) {
      PlotSeries series{fmt::format("{} {}", variant, kernel), {}};
      for (const unsigned w : counts) {
        if (const Measurement* row = find_row(rows, variant, kernel, w); row != nullptr) {
          series.points.emplace_back(w, metric(*row, "speedup"));
        }
      }
      if (!series.points.empty()) plot.series.push_back(std::move(series));
    }
  }
  PlotSeries ideal{"ideal (min(workers, cores))", {}};
  for (const unsigned w : counts) ideal.points.emplace_back(w, std::min(w, cores));
  plot.series.push_back(std::move(ideal));
  return plot;
}

std::vector<std::string> notes(const std::vector<Measurement>& rows, const std::vector<unsigned>& counts,
                               unsigned cores) {
  std::vector<std::string> out;
  // Vector vs scalar, one worker, in the first mode measured.
  for (const char* mode : {"processes", "threads"}) {
    const Measurement* scalar = find_row(rows, mode, "scalar", 1);
    const Measurement* vector = find_row(rows, mode, "vector", 1);
    if (scalar == nullptr || vector == nullptr) continue;
    const double ratio = metric(*vector, "darts_per_s") / metric(*scalar, "darts_per_s");
    out.push_back(fmt::format("target vector kernel >= 4x the scalar kernel, 1 worker ({}): {} vs {} = {:.2f}x "
                              "({}; vector clone: {})",
                              mode, format_metric("darts_per_s", metric(*vector, "darts_per_s")),
                              format_metric("darts_per_s", metric(*scalar, "darts_per_s")), ratio,
                              verdict(ratio >= 4.0), vector_kernel_target()));
    break;
  }
  // Threads against processes at every worker count up to the cores:
  // within 5 % either way.
  for (const char* kernel : {"scalar", "vector"}) {
    double worst = 0;
    unsigned worst_at = 0;
    std::string each;
    for (const unsigned w : counts) {
      if (w > cores) continue;
      const Measurement* processes = find_row(rows, "processes", kernel, w);
      const Measurement* threads = find_row(rows, "threads", kernel, w);
      if (processes == nullptr || threads == nullptr) continue;
      const double ratio = metric(*threads, "darts_per_s") / metric(*processes, "darts_per_s");
      each += fmt::format("{}{}: {:.3f}", each.empty() ? "" : ", ", w, ratio);
      if (worst_at == 0 || std::abs(ratio - 1) > std::abs(worst - 1)) {
        worst = ratio;
        worst_at = w;
      }
    }
    if (worst_at == 0) continue;
    out.push_back(fmt::format("target threads within 5 % of processes up to the cores ({} kernel; threads / "
                              "processes darts/s at {}): furthest {:.3f} at {} worker{} ({})",
                              kernel, each, worst, worst_at, worst_at == 1 ? "" : "s", verdict(std::abs(worst - 1) <= 0.05)));
  }
  // 2 workers against the ceiling measured in this run (2 independent processes).
  const Measurement* top = nullptr;
  for (const Measurement& row : rows) {
    if (row.variant == "ceiling" && row.workers == 2 && row.correct) top = &row;
  }
  if (top == nullptr || !find_metric(*top, "speedup")) {
    out.push_back("target 2 workers >= 0.95 x the parallel ceiling: no 2-process ceiling in this run "
                  "(one CPU, or --no-ceiling)");
  } else {
    const double ceiling = *find_metric(*top, "speedup");
    for (const char* mode : {"processes", "threads"}) {
      for (const char* kernel : {"scalar", "vector"}) {
        const Measurement* row = find_row(rows, mode, kernel, 2);
        if (row == nullptr || !row->correct) continue;
        const double speedup = metric(*row, "speedup");
        out.push_back(fmt::format("target 2 workers >= 0.95 x this run's ceiling ({:.2f}x), {} {}: {:.2f}x "
                                  "= {:.2f} of it ({})",
                                  ceiling, mode, kernel, speedup, speedup / ceiling,
                                  verdict(speedup >= 0.95 * ceiling)));
      }
    }
  }
  for (const Measurement& row : rows) {
    if (!row.variant.starts_with("python") || row.repeats == 0) continue;
    const Measurement* peer = cpp_peer(rows, row);
    if (peer == nullptr) continue;
    out.push_back(fmt::format("C++ {} {} / Python {} {}, {} worker{}: {} vs {} = {:.1f}x",
                              text_param(*peer, "kernel"), peer->variant, text_param(row, "kernel"),
                              row.variant.substr(7), row.workers, row.workers == 1 ? "" : "s",
                              format_metric("darts_per_s", metric(*peer, "darts_per_s")),
                              format_metric("darts_per_s", metric(row, "darts_per_s")),
                              metric(*peer, "darts_per_s") / metric(row, "darts_per_s")));
  }
  for (const Measurement& row : rows) {
    if (text_param(row, "reseed") != "forgotten") continue;
    out.push_back(fmt::format(
        "the book's bug reproduced ({} {}, {} workers): with the reseed forgotten, {} of {} blocks drew the "
        "same darts as another block (correct = NO on purpose); reseeded per block: none",
        row.variant, text_param(row, "kernel"), row.workers, metric(row, "repeated_blocks"), row.workers));
  }
  for (const Measurement& row : rows) {
    if (!row.correct && text_param(row, "reseed") != "forgotten") {
      out.push_back(fmt::format("WARNING: {} {} ({} workers) is incorrect ({} runs completed)", row.variant,
                                text_param(row, "kernel"), row.workers, row.repeats));
    }
  }
  return out;
}

ExperimentReport pi_report(const PiExperimentConfig& config, std::optional<PythonPiConfig> python,
                           const std::filesystem::path& plot_path, Progress& progress) {
  const auto start = std::chrono::steady_clock::now();
  const unsigned cores = machine_info().cores_available;
  const std::vector<unsigned> counts = pi_worker_counts(config);
  ExperimentReport report;
  report.name = "pi";
  PiExperimentConfig plain = config;
  plain.forget_reseed = false;
  report.rows = run_pi_experiment(plain, [&](std::string_view step) { progress.update(step); });
  if (config.forget_reseed) {
    // The bug once, at the largest worker count, one kernel.
    PiExperimentConfig forgot = config;
    forgot.workers = {counts.back()};
    forgot.repeats = 1;
    if (forgot.vector) forgot.scalar = false;
    progress.update("forgotten reseed");
    const std::vector<Measurement> rows = run_pi_experiment(forgot);
    report.rows.insert(report.rows.end(), rows.begin(), rows.end());
  }
  std::vector<std::string> python_notes;
  if (python) {
    PythonPi measured = run_python_pi(*python, [&](std::string_view step) { progress.update(step); });
    report.rows.insert(report.rows.end(), measured.rows.begin(), measured.rows.end());
    python_notes = std::move(measured.notes);
  }
  report.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.summary = fmt::format(
      "Monte Carlo pi: {} darts split into one block per worker, ProcessPool and ThreadPool, scalar and vector "
      "kernels, each block on its own Philox stream (seed {}){}: {} repeats, {} cores available (nproc)",
      config.darts, config.seed, python ? ", beside the book's Python versions" : "", config.repeats, cores);
  std::string workers;
  for (const unsigned w : counts) workers += (workers.empty() ? "" : ",") + std::to_string(w);
  std::vector<std::string> words = {"mpkit", "pi", "--darts", std::to_string(config.darts), "--workers", workers,
                                    "--repeat", std::to_string(config.repeats), "--seed", std::to_string(config.seed)};
  if (!(config.processes && config.threads)) words.insert(words.end(), {"--mode", config.processes ? "processes" : "threads"});
  if (!(config.scalar && config.vector)) words.insert(words.end(), {"--kernel", config.scalar ? "scalar" : "vector"});
  if (config.forget_reseed) words.emplace_back("--forget-reseed");
  if (python) {
    words.insert(words.end(), {"--python-darts", std::to_string(python->lists_darts)});
  } else {
    words.emplace_back("--no-python");
  }
  report.command_line = command_line(words);
  {
    std::vector<Measurement> ceiling;
    std::copy_if(report.rows.begin(), report.rows.end(), std::back_inserter(ceiling),
                 [](const Measurement& row) { return row.variant == "ceiling"; });
    if (!ceiling.empty()) {
      report.tables.push_back({"The machine's parallel ceiling: N independent processes each throwing one "
                               "block's darts (scalar kernel, no pool, no IPC)",
                               rows_table(ceiling, {{}, {{"speedup", "speedup"}, {"efficiency", "efficiency"}}})});
    }
  }
  report.tables.push_back({"C++: speedup against 1 worker of the same mode and kernel (workers above the cores "
                           "oversubscribe)",
                           results_table(report.rows, false)});
  if (python) {
    report.tables.push_back({"Python (the book's versions, Python 3 ports): C++ / Python = darts/s of the C++ row "
                             "with the same mode and workers (scalar vs lists, vector vs numpy)",
                             results_table(report.rows, true)});
  }
  report.notes = python_notes;
  const std::vector<std::string> more = notes(report.rows, counts, cores);
  report.notes.insert(report.notes.end(), more.begin(), more.end());
  if (!plot_path.empty()) {
    const auto why_not = write_png(speedup_plot(report.rows, counts, cores), plot_path);
    report.notes.push_back(why_not ? *why_not : "plot: " + plot_path.string());
  }
  return report;
}

std::vector<unsigned> python_workers(const std::vector<unsigned>& counts) {
  const unsigned cores = std::max(1u, machine_info().cores_available);
  std::vector<unsigned> out;
  for (const unsigned w : {1u, 2u, cores}) {
    if (std::find(counts.begin(), counts.end(), w) != counts.end() &&
        std::find(out.begin(), out.end(), w) == out.end()) {
      out.push_back(w);
    }
  }
  if (out.empty()) out.push_back(counts.front());
  return out;
}

PythonPiConfig python_config(const PiExperimentConfig& config, std::uint64_t lists_darts) {
  PythonPiConfig python;
  python.lists_darts = lists_darts;
  python.numpy_darts = lists_darts * 10;
  python.workers = python_workers(pi_worker_counts(config));
  python.processes = config.processes;
  python.threads = config.threads;
  python.lists = config.scalar;
  python.numpy = config.vector;
  python.repeats = std::min(config.repeats, 3u);
  python.seed = config.seed;
  return python;
}

}  // namespace

Command pi_command() {
  Command command;
  command.name = "pi";
  command.summary = "Monte Carlo pi: processes vs threads, scalar vs vector kernel, per-worker streams (vs Python)";
  command.setup = [](CLI::App& sub) -> Action {
    auto options = std::make_shared<PiOptions>();
    add_experiment_options(sub, options->common);
    auto& config = options->config;
    sub.add_option("--darts", config.darts, "darts in all, split equally among the workers (1e8 is accepted)")
        ->transform(dart_count())
        ->capture_default_str();
    sub.add_option("--workers", config.workers, "worker counts, comma-separated (default: 1,2,4,8 and 2 x cores)")
        ->delimiter(',')
        ->type_name("LIST")
        ->check(whole_number_in(1, 1024));
    sub.add_option("--mode", options->mode, "ProcessPool, ThreadPool (the same code) or both")
        ->check(CLI::IsMember({"processes", "threads", "both"}))
        ->capture_default_str();
    sub.add_option("--kernel", options->kernel, "the scalar dart loop, the vector block kernel, or both")
        ->check(CLI::IsMember({"scalar", "vector", "both"}))
        ->capture_default_str();
    sub.add_option("--seed", config.seed, "the streams' seed (block k draws from stream (seed, k))")
        ->check(whole_number_in(0, std::numeric_limits<std::uint64_t>::max()))
        ->capture_default_str();
    sub.add_flag("--forget-reseed", config.forget_reseed,
                 std::string("also run the book's bug: every block draws from one copied generator state"));
    sub.add_flag("--no-python", options->no_python, std::string("skip the Python versions"));
    sub.add_flag("--no-ceiling", options->no_ceiling,
                 std::string("skip the parallel ceiling (N independent processes, no pool) measured first"));
    sub.add_option("--python-darts", options->python_darts,
                   "darts of the pure-Python runs (numpy runs get 10x as many)")
        ->check(whole_number_in(1, std::uint64_t{1} << 40))
        ->capture_default_str();
    sub.add_option("--plot", options->plot_path, "write a PNG: speedup vs workers, 4 combinations")
        ->type_name("FILE");
    sub.footer(
        "EXPERIMENTS.md section 3. --darts darts are split into one block per worker, one pool\n"
        "task each (chunksize 1), run on a ProcessPool and on a ThreadPool (the same code: the\n"
        "multiprocessing.dummy twin) with the book's scalar loop (two uniform draws per dart,\n"
        "x*x + y*y <= 1) and with the vector block kernel. Block k draws from Philox stream\n"
        "(seed, k) (pi/README.md): never a copy of the parent's state. Both kernels count the\n"
        "same darts, so they give the same estimate. Reported: estimate, |error|, its size in\n"
        "standard errors, darts/s, speedup over 1 worker; the targets as met / MISSED. Python\n"
        "(pi/experiments/python/*.py: pure Python and numpy, multiprocessing.Pool and\n"
        "multiprocessing.dummy) runs in the same session at --python-darts, and each Python row\n"
        "gets its C++ / Python ratio. `mpkit run` uses --darts 1e7 --repeat 3.\n"
        "\n"
        "Examples:\n"
        "  mpkit pi\n"
        "  mpkit pi --darts 1e7 --workers 1,2 --kernel vector --plot pi.png\n"
        "  mpkit pi --darts 1e6 --forget-reseed --no-python\n");
    return [options](const std::vector<std::string>& /*argv*/) {
      PiExperimentConfig& chosen = options->config;
      chosen.repeats = options->common.repeat;
      chosen.processes = options->mode != "threads";
      chosen.threads = options->mode != "processes";
      chosen.scalar = options->kernel != "vector";
      chosen.vector = options->kernel != "scalar";
      chosen.ceiling = !options->no_ceiling;
      try {
        validate_pi_experiment_config(chosen);
      } catch (const std::invalid_argument& error) {
        throw UsageError(std::string("--") + error.what());
      }
      std::optional<PythonPiConfig> python;
      if (!options->no_python) python = python_config(chosen, options->python_darts);
      return run_experiment_command("pi", options->common, [&](Progress& progress) {
        return pi_report(chosen, python, options->plot_path, progress);
      });
    };
  };
  command.quick = [](const SuiteContext& context) {
    PiExperimentConfig config;
    config.darts = 10'000'000;
    config.repeats = context.repeat ? *context.repeat : 3;
    config.forget_reseed = true;
    const std::filesystem::path plot =
        context.out_dir.empty() ? std::filesystem::path() : context.out_dir / "pi_speedup.png";
    return pi_report(config, python_config(config, 500'000), plot, *context.progress);
  };
  return command;
}

}  // namespace mpkit::cli
