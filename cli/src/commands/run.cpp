// `mpkit run`: the suite at quick scale, into one output directory.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "commands/commands.hpp"
#include "machine_report.hpp"
#include "mpkit/ipc/experiments/machine.hpp"
#include "options.hpp"
#include "output/format.hpp"
#include "output/json_rows.hpp"

namespace mpkit::cli {
namespace {

struct RunOptions {
  std::string out_dir;  // empty: results/<UTC timestamp>
  std::string only;  // comma-separated names
  bool list = false;
  unsigned repeat = 0;  // 0: each experiment's quick default
  bool progress = false;
};

// `format` for std::strftime, in UTC.
std::string utc_now(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[64];
  const std::size_t n = std::strftime(text, sizeof text, format, &utc);
  return std::string(text, n);
}

std::vector<const Command*> experiments() {
  std::vector<const Command*> out;
  for (const Command& command : all_commands()) {
    if (command.quick) out.push_back(&command);
  }
  return out;
}

// "a,b,,c" -> {"a", "b", "c"}. (Split here rather than with CLI11's
// delimiter(), whose inlined split trips GCC 12's -Wnull-dereference.)
std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> names;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    if (end > begin) names.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return names;
}

std::vector<const Command*> selected(const RunOptions& options) {
  const std::vector<const Command*> all = experiments();
  if (options.only.empty()) return all;
  const std::vector<std::string> names = split_names(options.only);
  if (names.empty()) throw UsageError("--only: no experiment named (known: see mpkit run --list)");
  std::vector<const Command*> out;
  for (const std::string& name : names) {
    const auto found = std::find_if(all.begin(), all.end(), [&](const Command* c) { return c->name == name; });
    if (found == all.end()) {
      std::string known;
      for (const Command* c : all) known += (known.empty() ? "" : ", ") + c->name;
      throw UsageError(fmt::format("--only: unknown experiment '{}' (known: {})", name, known));
    }
    if (std::find(out.begin(), out.end(), *found) == out.end()) out.push_back(*found);
  }
  return out;
}

int list(const std::vector<const Command*>& chosen) {
  Table table({{"experiment"}, {"what it measures"}});
  table.add_row({"info", "the machine report (always included)"});
  for (const Command* command : chosen) table.add_row({command->name, command->summary});
  std::fputs(table.render(TableStyle::kPlain).c_str(), stdout);
  return 0;
}

std::filesystem::path make_out_dir(const RunOptions& options) {
  const std::filesystem::path dir =
      options.out_dir.empty() ? std::filesystem::path("results") / utc_now("%Y%m%dT%H%M%SZ")
                              : std::filesystem::path(options.out_dir);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    throw UsageError(fmt::format("--out: cannot create directory '{}': {}", dir.string(), error.message()));
  }
  return dir;
}

struct Outcome {
  std::optional<ExperimentReport> report;
  std::string name;
  std::string failure;  // what() of the exception that stopped it
};

std::string markdown(const std::string& started, const std::string& invocation,
                     const std::filesystem::path& dir, std::size_t row_count, double wall_seconds,
                     const MachineInfo& info, const std::vector<Outcome>& outcomes) {
  std::string out = fmt::format("# mpkit run, {}\n\n", started);
  out += fmt::format("- mpkit {}, command: `{}`\n", MPKIT_VERSION, invocation);
  out += fmt::format("- output: `{}/` (results.jsonl: {} rows, one JSON object per line; report.md)\n",
                     dir.string(), row_count);
  out += fmt::format("- took {}\n", human_seconds(wall_seconds));
  out += "\n## Machine\n\n" + machine_table(info).render(TableStyle::kMarkdown);

  std::vector<std::string> commands = {invocation, "mpkit info"};
  for (const Outcome& outcome : outcomes) {
    out += fmt::format("\n## {}\n\n", outcome.name);
    if (!outcome.report) {
      out += fmt::format("FAILED: {}\n", outcome.failure);
      continue;
    }
    const ExperimentReport& report = *outcome.report;
    commands.push_back(report.command_line);
    out += fmt::format("{}; took {}\n\nCommand: `{}`\n\n", report.summary,
                       human_seconds(report.wall_seconds), report.command_line);
    out += render_body(report, TableStyle::kMarkdown);
  }
  out += "\n## Commands used\n\n";
  for (const std::string& command : commands) out += "    " + command + "\n";
  return out;
}

int run_suite(const RunOptions& options, const std::vector<std::string>& argv) {
  const std::vector<const Command*> chosen = selected(options);
  if (options.list) return list(chosen);

  const auto start = std::chrono::steady_clock::now();
  const std::string started = utc_now("%Y-%m-%d %H:%M:%S UTC");
  const std::filesystem::path dir = make_out_dir(options);
  const MachineInfo info = machine_info();
  const double info_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  JsonLinesWriter writer((dir / "results.jsonl").string(), "--out", machine_summary(info));
  writer.write(machine_row(info, info_seconds));
  std::size_t row_count = 1;

  Progress progress(options.progress);
  std::vector<Outcome> outcomes;
  for (const Command* command : chosen) {
    progress.set_prefix(command->name + ": ");
    progress.update("starting");
    SuiteContext context;
    if (options.repeat != 0) context.repeat = options.repeat;
    context.progress = &progress;
    context.out_dir = dir;
    Outcome outcome{std::nullopt, command->name, {}};
    // One experiment failing must not cost the others their results.
    try {
      outcome.report = command->quick(context);
      for (const Measurement& row : outcome.report->rows) writer.write(row);
      row_count += outcome.report->rows.size();
    } catch (const std::exception& error) {
      outcome.failure = error.what();
    }
    outcomes.push_back(std::move(outcome));
  }
  progress.clear();

  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // "mpkit run ...", whatever path it was started by.
  std::vector<std::string> words = argv;
  if (!words.empty()) words.front() = "mpkit";
  const std::string report = markdown(started, command_line(words), dir, row_count, wall, info, outcomes);
  const std::filesystem::path report_path = dir / "report.md";
  std::ofstream report_file(report_path);
  report_file << report;
  report_file.flush();
  if (!report_file) throw std::runtime_error("writing " + report_path.string() + " failed");
  std::fputs(report.c_str(), stdout);
  std::fflush(stdout);

  int failures = 0;
  for (const Outcome& outcome : outcomes) {
    if (!outcome.report) {
      std::fprintf(stderr, "mpkit: run: %s failed: %s\n", outcome.name.c_str(), outcome.failure.c_str());
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

Command run_command() {
  Command command;
  command.name = "run";
  command.summary = "Run the whole suite at quick scale; write results.jsonl and report.md";
  command.setup = [](CLI::App& sub) -> Action {
    auto options = std::make_shared<RunOptions>();
    sub.add_option("--out", options->out_dir,
                   "output directory, created if missing; results.jsonl and report.md in it are "
                   "overwritten (default: results/<UTC timestamp>)")
        ->check(non_empty())
        ->type_name("DIR");
    sub.add_option("--only", options->only, "run only these experiments (comma-separated)")
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
              for (const std::string& name : detail::split_list(text)) {
                if (name.empty()) return fmt::format("empty name in the list '{}'", shown(text));
              }
              return {};
            },
            "", "names"))
        ->type_name("NAMES");
    sub.add_flag("--list", options->list, std::string("list the experiments it would run, run nothing"));
    sub.add_option("--repeat", options->repeat,
                   "repeats for every experiment (default: each experiment's own quick default)")
        ->check(whole_number_in(1, 1'000'000));
    add_progress_option(sub, options->progress);
    sub.footer(
        "Runs the machine report and every experiment at its quick scale, one after the\n"
        "other, then writes into the output directory:\n"
        "  results.jsonl  every row (the machine row first), one JSON object per line\n"
        "  report.md      the machine report, each experiment's tables and ratios, and the\n"
        "                 command lines that reproduce each part\n"
        "and prints report.md. An experiment that fails is reported and the others still\n"
        "run (exit code 1 then).\n"
        "\n"
        "Examples:\n"
        "  mpkit run\n"
        "  mpkit run --list\n"
        "  mpkit run --only sync --out /tmp/mpkit-sync\n");
    return [options](const std::vector<std::string>& argv) { return run_suite(*options, argv); };
  };
  return command;
}

}  // namespace mpkit::cli
