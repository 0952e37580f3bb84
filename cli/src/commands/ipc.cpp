// `mpkit ipc`: messages between two processes through every queue backend
// (run_transport_experiment): throughput and ping-pong round trips; and what
// a shared flag costs for every flag backend (run_flag_experiment): the poll
// and the set -> seen delay.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "commands/commands.hpp"
#include "experiment_command.hpp"
#include "options.hpp"
#include "output/format.hpp"
#include "output/json_rows.hpp"
#include "output/targets.hpp"
#include <fmt/format.h>

#include "mpkit/ipc/experiments/flag_experiment.hpp"
#include "mpkit/ipc/experiments/machine.hpp"
#include "mpkit/ipc/experiments/transport_experiment.hpp"

namespace mpkit::cli {
namespace {

constexpr std::string_view kHeadline = "lockfree-spsc";
constexpr std::string_view kPipe = "pipe";
constexpr std::string_view kBatch = "lockfree-spsc-batch64";
constexpr std::size_t kRatioBytes = 64;
constexpr std::string_view kNone = "none";  // --backends none / --flags none: skip that half

struct IpcOptions {
  ExperimentOptions common;
  std::uint64_t messages = TransportConfig{}.messages;
  std::uint64_t round_trips = TransportConfig{}.round_trips;
  std::vector<std::size_t> bytes = TransportConfig{}.payload_bytes;
  std::vector<std::string> backends;
  std::vector<unsigned> sides = TransportConfig{}.sides;
  bool pin = false;
  bool unpinned_too = false;
  std::vector<std::string> flags;
  std::uint64_t polls = FlagExperimentConfig{}.polls;
  std::uint64_t handoffs = FlagExperimentConfig{}.handoffs;
  std::string redis_url;
};

// What one `mpkit ipc` run measures: either half may be skipped.
struct IpcPlan {
  std::optional<TransportConfig> queues;
  std::optional<FlagExperimentConfig> flags;
};

std::string join(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (const std::string& word : words) out += (out.empty() ? "" : std::string(separator)) + word;
  return out;
}

std::vector<std::string> size_words(std::span<const std::size_t> sizes) {
  std::vector<std::string> out;
  for (const std::size_t bytes : sizes) out.push_back(std::to_string(bytes));
  return out;
}

std::vector<std::string> backend_words() {
  std::vector<std::string> out;
  for (const std::string_view name : transport_backends()) out.emplace_back(name);
  return out;
}

// --bytes: each element one of the supported sizes.
CLI::Validator supported_size() {
  const std::vector<std::string> sizes = size_words(transport_payload_sizes());
  return CLI::Validator(
      [sizes](std::string& text) -> std::string {
        if (std::find(sizes.begin(), sizes.end(), text) != sizes.end()) return {};
        return fmt::format("value '{}' is not a supported payload size (supported: {})", text,
                           join(sizes, ", "));
      },
      join(sizes, "|"), "supported_size");
}

std::vector<std::string> flag_words() {
  std::vector<std::string> out;
  for (const std::string_view name : flag_experiment_backends()) out.emplace_back(name);
  return out;
}

// --backends / --flags: each element one of `names`, or "none".
CLI::Validator known_name(std::vector<std::string> names, std::string_view what) {
  return CLI::Validator(
      [names, what = std::string(what)](std::string& text) -> std::string {
        if (text == kNone || std::find(names.begin(), names.end(), text) != names.end()) return {};
        return fmt::format("unknown {} '{}' (known: {}, or none)", what, text, join(names, ", "));
      },
      "NAME", "known_" + std::string(what));
}

// Empty: all; "none" alone: skip; "none" beside names is an error.
bool skips(const std::vector<std::string>& names, std::string_view option) {
  if (std::find(names.begin(), names.end(), kNone) == names.end()) return false;
  if (names.size() > 1) throw UsageError(fmt::format("{}: 'none' cannot be combined with names", option));
  return true;
}

bool param_is(const Measurement& row, std::string_view key, const ParamValue& want) {
  const ParamValue* value = find_param(row, key);
  return value != nullptr && *value == want;
}

bool is_round_trip(const Measurement& row) {
  return param_is(row, "mode", ParamValue(std::string("round-trip")));
}

std::int64_t sides_of(const Measurement& row) {
  const ParamValue* value = find_param(row, "producers");
  return value != nullptr && std::holds_alternative<std::int64_t>(*value)
             ? std::get<std::int64_t>(*value)
             : 1;
}

std::optional<double> metric_of(const std::vector<Measurement>& rows, std::string_view variant,
                                bool round_trip, bool pinned, std::size_t bytes,
                                std::string_view metric, std::int64_t sides = 1) {
  for (const Measurement& row : rows) {
    if (row.variant == variant && row.correct && is_round_trip(row) == round_trip &&
        sides_of(row) == sides && param_is(row, "pinned", ParamValue(pinned)) &&
        param_is(row, "bytes", ParamValue(static_cast<std::int64_t>(bytes)))) {
      return find_metric(row, metric);
    }
  }
  return std::nullopt;
}

std::vector<bool> pin_modes(const std::vector<Measurement>& rows) {
  std::vector<bool> modes;
  for (const Measurement& row : rows) {
    const ParamValue* value = find_param(row, "pinned");
    if (value == nullptr || !std::holds_alternative<bool>(*value)) continue;
    const bool pinned = std::get<bool>(*value);
    if (std::find(modes.begin(), modes.end(), pinned) == modes.end()) modes.push_back(pinned);
  }
  return modes;
}

// "A vs B: ratio (target >= x: met)" for a ratio target, if both rows exist.
std::optional<std::string> ratio_target(std::string_view what, std::optional<double> mine,
                                        std::string_view other, std::optional<double> theirs,
                                        double target) {
  if (!mine || !theirs || *theirs <= 0) return std::nullopt;
  const double ratio = *mine / *theirs;
  return fmt::format("target {}: {} vs {} {} = {:.2f}x (target >= {:.1f}x: {})", what,
                     format_metric("messages_per_s", *mine), other,
                     format_metric("messages_per_s", *theirs), ratio, target,
                     verdict(ratio >= target));
}

// The targets, each from rows of this one run: lockfree 8 B 1:1
// against the spinning Boost spsc_queue (>= 1.5x) and Boost's message_queue
// (>= 10x); lockfree round trip p50 <= 1 us; lockfree-mpmc 2x2 against
// boost-mq 2x2 (>= 5x).
std::vector<std::string> target_notes(const std::vector<Measurement>& rows, bool pinned) {
  constexpr std::size_t kBytes = 8;
  const std::string where = pinned ? "pinned" : "unpinned";
  std::vector<std::string> out;
  const auto rate = [&](std::string_view name, std::int64_t sides) {
    return metric_of(rows, name, false, pinned, kBytes, "messages_per_s", sides);
  };
  const auto mine = rate(kHeadline, 1);
  for (const auto& line :
       {ratio_target(fmt::format("8 B 1:1 {}, {} vs boost-spsc-spin", where, kHeadline), mine,
                     "boost-spsc-spin", rate("boost-spsc-spin", 1), 1.5),
        ratio_target(fmt::format("8 B 1:1 {}, {} vs boost-mq", where, kHeadline), mine,
                     "boost-mq", rate("boost-mq", 1), 10.0),
        ratio_target(fmt::format("8 B 2x2 {}, lockfree-mpmc vs boost-mq", where),
                     rate("lockfree-mpmc", 2), "boost-mq", rate("boost-mq", 2), 5.0)}) {
    if (line) out.push_back(*line);
  }
  if (const auto rtt = metric_of(rows, kHeadline, true, pinned, kBytes, "rtt_ns_p50")) {
    out.push_back(fmt::format("target 8 B round trip {}, {} p50 {} (target <= 1 us: {})", where,
                              kHeadline, format_metric("rtt_ns_p50", *rtt),
                              verdict(*rtt <= 1000)));
  }
  return out;
}

// The ratio lines: the targets; lockfree-spsc against the fastest other
// backend and the pipe, in messages/s at 64 B; the batch gain; the
// round-trip ratio.
std::vector<std::string> notes(const std::vector<Measurement>& rows,
                               const TransportConfig& config) {
  std::vector<std::string> out;
  for (const bool pinned : pin_modes(rows)) {
    for (std::string& line : target_notes(rows, pinned)) out.push_back(std::move(line));
    const std::string where = fmt::format("{} B, {}", kRatioBytes, pinned ? "pinned" : "unpinned");
    const auto mine = metric_of(rows, kHeadline, false, pinned, kRatioBytes, "messages_per_s");
    if (!mine) {
      out.push_back(
          fmt::format("{}: no completed {} throughput row, so no ratio", where, kHeadline));
      continue;
    }
    const auto best =
        best_of(transport_backends(), [&](std::string_view name) -> std::optional<double> {
          // Not itself, nor the busy-polling baseline (its own line below).
          if (name.starts_with(kHeadline) || name == "boost-spsc-spin") return std::nullopt;
          return metric_of(rows, name, false, pinned, kRatioBytes, "messages_per_s");
        });
    std::string line = fmt::format("throughput {}: {} {}", where, kHeadline,
                                   format_metric("messages_per_s", *mine));
    if (best && best->value > 0) {
      line += fmt::format(" vs {} {} (fastest other): {:.2f}x", best->name,
                          format_metric("messages_per_s", best->value), *mine / best->value);
    }
    const auto pipe = metric_of(rows, kPipe, false, pinned, kRatioBytes, "messages_per_s");
    if (pipe && *pipe > 0) {
      line += fmt::format("; vs pipe {}: {:.1f}x", format_metric("messages_per_s", *pipe),
                          *mine / *pipe);
    }
    out.push_back(line);
    std::string spin;
    if (const auto base = metric_of(rows, "boost-spsc-spin", false, pinned, kRatioBytes, "messages_per_s");
        base && *base > 0) {
      spin = fmt::format("; vs boost-spsc-spin {} (busy-polling baseline): {:.2f}x",
                         format_metric("messages_per_s", *base), *mine / *base);
    }
    out.back() += spin;
    const auto batch = metric_of(rows, kBatch, false, pinned, kRatioBytes, "messages_per_s");
    if (batch) {
      out.push_back(fmt::format("batching {}: {} {} = {:.2f}x one item per call", where, kBatch,
                                format_metric("messages_per_s", *batch), *batch / *mine));
    }
    const auto rtt = metric_of(rows, kHeadline, true, pinned, kRatioBytes, "rtt_ns_p50");
    const auto pipe_rtt = metric_of(rows, kPipe, true, pinned, kRatioBytes, "rtt_ns_p50");
    if (rtt && pipe_rtt && *rtt > 0) {
      out.push_back(fmt::format("round trip {}: {} p50 {} vs pipe {}: {:.1f}x faster", where,
                                kHeadline, format_metric("rtt_ns_p50", *rtt),
                                format_metric("rtt_ns_p50", *pipe_rtt), *pipe_rtt / *rtt));
    }
  }
  // What was skipped, and why (the tables show the rows as "skipped").
  for (const std::size_t bytes : transport_payload_sizes()) {
    if (std::find(config.payload_bytes.begin(), config.payload_bytes.end(), bytes) ==
        config.payload_bytes.end()) {
      continue;
    }
    for (const std::string_view name : transport_backends()) {
      if (!config.backends.empty() && std::find(config.backends.begin(), config.backends.end(),
                                                name) == config.backends.end()) {
        continue;
      }
      if (const auto reason = transport_skip_reason(name, bytes)) {
        out.push_back(
            fmt::format("{} at {}: skipped, not measured: {}", name, human_bytes(bytes), *reason));
      }
    }
  }
  for (const Measurement& row : rows) {
    if (!row.correct) {
      const ParamValue* bytes = find_param(row, "bytes");
      out.push_back(fmt::format(
          "WARNING: {} {} B {} is incorrect: a payload was lost, reordered or corrupted, "
          "or a process stopped answering ({} of the runs completed)",
          row.variant, bytes != nullptr ? param_text(*bytes) : "?",
          is_round_trip(row) ? "round trips" : "throughput", row.repeats));
    }
  }
  return out;
}

std::vector<Measurement> select(const std::vector<Measurement>& rows, bool round_trip,
                                std::optional<std::size_t> bytes) {
  std::vector<Measurement> out;
  for (const Measurement& row : rows) {
    if (is_round_trip(row) != round_trip) continue;
    if (bytes && !param_is(row, "bytes", ParamValue(static_cast<std::int64_t>(*bytes)))) continue;
    out.push_back(row);
  }
  return out;
}

// Appends a "skipped" line for every chosen backend that cannot carry `bytes`
// (all of `sizes` when bytes is empty), one per pinning mode.
void add_skipped(Table& table, const TransportConfig& config, const std::vector<bool>& modes,
                 const std::vector<std::size_t>& sizes, bool with_bytes_column) {
  for (const std::size_t bytes : sizes) {
    for (const std::string_view name : transport_backends()) {
      if (!config.backends.empty() && std::find(config.backends.begin(), config.backends.end(),
                                                name) == config.backends.end()) {
        continue;
      }
      if (!transport_skip_reason(name, bytes)) continue;
      for (const bool pinned : modes) {
        std::vector<std::string> cells{std::string(name)};
        if (with_bytes_column) cells.push_back(std::to_string(bytes));
        cells.push_back(pinned ? "yes" : "no");
        while (cells.size() + 1 < table.column_count()) cells.push_back("-");
        cells.push_back("skipped (see below)");
        table.add_row(std::move(cells));
      }
    }
  }
}

// Progress steps that say why a backend failed ("redis failed: ..."): kept
// for the notes, which are printed whether or not progress is shown.
void keep_failures(std::string_view step, std::vector<std::string>& failures) {
  if (step.find(" failed: ") != std::string_view::npos) failures.push_back("FAILED: " + std::string(step));
}

void add_queue_part(ExperimentReport& report, const TransportConfig& config, Progress& progress) {
  std::vector<std::string> failures;
  const std::vector<Measurement> rows = run_transport_experiment(config, [&](std::string_view step) {
    progress.update(step);
    keep_failures(step, failures);
  });
  for (std::string& failure : failures) report.notes.push_back(std::move(failure));
  const bool pinned = config.pin && machine_info().cores_available >= 2;
  std::vector<bool> modes = pin_modes(rows);
  if (modes.empty()) modes.push_back(pinned);
  std::vector<std::size_t> sizes;
  for (const std::size_t bytes : transport_payload_sizes()) {
    if (std::find(config.payload_bytes.begin(), config.payload_bytes.end(), bytes) !=
        config.payload_bytes.end()) {
      sizes.push_back(bytes);
    }
  }

  for (const std::size_t bytes : sizes) {
    const std::uint64_t messages = transport_messages_per_run(config, bytes);
    Table table =
        rows_table(select(rows, false, bytes),
                   {{{"producers", "prod"},
                     {"consumers", "cons"},
                     {"pinned", "pinned"},
                     {"messages", "messages"},
                     {"capacity", "capacity"}},
                    {{"messages_per_s", "msgs/s"}, {"bytes_per_s", "bytes/s"}}});
    add_skipped(table, config, modes, {bytes}, false);
    report.tables.push_back(
        {fmt::format("Throughput, {} payloads: prod producer processes -> cons consumer "
                     "processes through one queue, {} messages per run{}",
                     human_bytes(bytes), messages,
                     messages < config.messages ? fmt::format(" (capped at {} per run)",
                                                              human_bytes(kMaxTransportBytesPerRun))
                                                : ""),
         std::move(table)});
  }
  Table round_trips = rows_table(
      select(rows, true, std::nullopt),
      {{{"bytes", "bytes"}, {"pinned", "pinned"}, {"round_trips", "round trips"}},
       {{"one_way_ns", "one-way"}, {"rtt_ns_p50", "rtt p50"}, {"rtt_ns_p99", "rtt p99"}}});
  add_skipped(round_trips, config, modes, sizes, true);
  report.tables.push_back(
      {fmt::format("Round trips: parent -> echo process -> parent over two queues, {} per run "
                   "({} for manager and redis)",
                   config.round_trips, std::min(config.round_trips, config.remote_round_trips)),
       std::move(round_trips)});
  for (std::string& note : notes(rows, config)) report.notes.push_back(std::move(note));
  report.rows.insert(report.rows.end(), rows.begin(), rows.end());
}

std::optional<double> flag_metric(const std::vector<Measurement>& rows, std::string_view variant,
                                  std::string_view metric) {
  for (const Measurement& row : rows) {
    if (row.variant == variant && row.correct) return find_metric(row, metric);
  }
  return std::nullopt;
}

// The flag ratio lines: every backend's poll and set -> seen against `atomic`.
std::vector<std::string> flag_notes(const std::vector<Measurement>& rows) {
  std::vector<std::string> out;
  const auto base_poll = flag_metric(rows, "atomic", "poll_ns");
  const auto base_seen = flag_metric(rows, "atomic", "seen_ns_p50");
  for (const Measurement& row : rows) {
    if (!row.correct) {
      out.push_back(fmt::format(
          "WARNING: flag {} is incorrect: the watcher never saw the flag, saw a stale value, or "
          "stopped answering ({} of the runs completed)",
          row.variant, row.repeats));
      continue;
    }
    if (row.variant == "atomic" || !base_poll || !base_seen || *base_poll <= 0 || *base_seen <= 0) {
      continue;
    }
    const auto poll = find_metric(row, "poll_ns");
    const auto seen = find_metric(row, "seen_ns_p50");
    if (!poll || !seen) continue;
    out.push_back(fmt::format("flag {}: poll {} = {:.1f}x atomic; set -> seen p50 {} = {:.1f}x atomic",
                              row.variant, format_metric("poll_ns", *poll), *poll / *base_poll,
                              format_metric("seen_ns_p50", *seen), *seen / *base_seen));
  }
  return out;
}

void add_flag_part(ExperimentReport& report, const FlagExperimentConfig& config,
                   Progress& progress) {
  std::vector<std::string> failures;
  const std::vector<Measurement> rows = run_flag_experiment(config, [&](std::string_view step) {
    progress.update(step);
    keep_failures(step, failures);
  });
  for (std::string& failure : failures) report.notes.push_back(std::move(failure));
  report.tables.push_back(
      {fmt::format("Flags: poll cost (is_set on a clear flag, {} polls; {} for redis and manager) "
                   "and set in "
                   "the parent -> seen by a watcher process, {} hand-offs per run",
                   config.polls, config.remote_polls, config.handoffs),
       rows_table(rows, {{{"pinned", "pinned"}},
                         {{"poll_ns", "poll"},
                          {"seen_ns_p50", "set->seen p50"},
                          {"seen_ns_p99", "set->seen p99"}}})});
  for (std::string& note : flag_notes(rows)) report.notes.push_back(std::move(note));
  report.rows.insert(report.rows.end(), rows.begin(), rows.end());
}

std::string ipc_command_line(const IpcPlan& plan, unsigned repeats, bool pin, bool unpinned_too) {
  std::vector<std::string> words = {"mpkit", "ipc", "--repeat", std::to_string(repeats)};
  if (const auto& queues = plan.queues) {
    words.insert(words.end(), {"--messages", std::to_string(queues->messages), "--round-trips",
                               std::to_string(queues->round_trips), "--bytes",
                               join(size_words(queues->payload_bytes), ",")});
    std::vector<std::string> sides;
    for (const unsigned k : queues->sides) sides.push_back(std::to_string(k));
    words.insert(words.end(), {"--sides", join(sides, ",")});
    if (!queues->backends.empty()) words.insert(words.end(), {"--backends", join(queues->backends, ",")});
  } else {
    words.insert(words.end(), {"--backends", std::string(kNone)});
  }
  if (const auto& flags = plan.flags) {
    words.insert(words.end(), {"--polls", std::to_string(flags->polls), "--handoffs",
                               std::to_string(flags->handoffs)});
    if (!flags->backends.empty()) words.insert(words.end(), {"--flags", join(flags->backends, ",")});
  } else {
    words.insert(words.end(), {"--flags", std::string(kNone)});
  }
  const std::string& redis = plan.queues ? plan.queues->redis_url : plan.flags->redis_url;
  if (!redis.empty()) words.insert(words.end(), {"--redis", redis});
  if (pin) words.emplace_back("--pin");
  if (unpinned_too) words.emplace_back("--unpinned-too");
  return command_line(words);
}

ExperimentReport ipc_report(const IpcPlan& plan, unsigned repeats, bool pin, bool unpinned_too,
                            Progress& progress) {
  const auto start = std::chrono::steady_clock::now();
  ExperimentReport report;
  report.name = "ipc";
  if (plan.queues) add_queue_part(report, *plan.queues, progress);
  if (plan.flags) add_flag_part(report, *plan.flags, progress);
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const unsigned cores = machine_info().cores_available;
  const bool pinned = pin && cores >= 2;
  report.summary = fmt::format(
      "{} between 2 processes: {} repeats, {}, {} cores available (nproc)",
      plan.queues && plan.flags ? "messages through every queue backend, and flags,"
      : plan.queues             ? "messages through every queue backend"
                                : "flags",
      repeats, pinned ? (unpinned_too ? "pinned and unpinned" : "pinned") : "unpinned", cores);
  report.command_line = ipc_command_line(plan, repeats, pin, unpinned_too);
  return report;
}

int run_ipc(const IpcOptions& options) {
  if (options.unpinned_too && !options.pin) throw UsageError("--unpinned-too: needs --pin");
  IpcPlan plan;
  try {
    if (!skips(options.backends, "--backends")) {
      TransportConfig config;
      config.repeats = options.common.repeat;
      config.messages = options.messages;
      config.round_trips = options.round_trips;
      config.payload_bytes = options.bytes;
      config.backends = options.backends;
      config.sides = options.sides;
      config.redis_url = options.redis_url;
      config.pin = options.pin;
      config.unpinned_too = options.unpinned_too;
      validate_transport_config(config);
      plan.queues = config;
    }
    if (!skips(options.flags, "--flags")) {
      FlagExperimentConfig config;
      config.repeats = options.common.repeat;
      config.polls = options.polls;
      config.handoffs = options.handoffs;
      config.backends = options.flags;
      config.redis_url = options.redis_url;
      config.pin = options.pin;
      validate_flag_experiment_config(config);
      plan.flags = config;
    }
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }
  if (!plan.queues && !plan.flags) throw UsageError("--backends none --flags none: nothing to measure");
  if (!options.redis_url.empty()) check_redis_url(options.redis_url);
  return run_experiment_command("ipc", options.common, [&](Progress& progress) {
    return ipc_report(plan, options.common.repeat, options.pin, options.unpinned_too, progress);
  });
}

}  // namespace

Command ipc_command() {
  Command command;
  command.name = "ipc";
  command.summary =
      "Measure message throughput and round trips between processes for every queue backend, "
      "and what every flag backend costs";
  command.setup = [](CLI::App& sub) -> Action {
    auto options = std::make_shared<IpcOptions>();
    add_experiment_options(sub, options->common);
    sub.add_option("--messages", options->messages,
                   "messages per throughput run (capped at 256 MiB of payload per run)")
        ->check(whole_number_in(1, std::uint64_t{10'000'000'000}))
        ->capture_default_str();
    sub.add_option("--round-trips", options->round_trips, "timed round trips per run")
        ->check(whole_number_in(1, kMaxTransportRoundTrips))
        ->capture_default_str();
    const auto list_text = [](const auto& values) {
      std::string text;
      for (const auto& v : values) text += (text.empty() ? "" : ",") + std::to_string(v);
      return text;
    };
    add_list_option(sub, "--bytes", options->bytes, "payload sizes in bytes, comma-separated", supported_size())
        ->default_str(list_text(options->bytes));
    add_list_option(sub, "--backends", options->backends,
                    "queue backends to measure, comma-separated, or none (default: all: " +
                        join(backend_words(), ", ") + ")",
                    known_name(backend_words(), "backend"));
    add_list_option(sub, "--sides", options->sides,
                    "throughput with k producer and k consumer processes, for each k listed "
                    "(k > 1: multi-producer/consumer backends only)",
                    whole_number_in(1, kMaxTransportSides))
        ->default_str(list_text(options->sides));
    add_list_option(sub, "--flags", options->flags,
                    "flag backends to measure, comma-separated, or none (default: all: " +
                        join(flag_words(), ", ") + ")",
                    known_name(flag_words(), "flag backend"));
    sub.add_option("--polls", options->polls,
                   "is_set() calls per flag poll-cost run (redis: " +
                       std::to_string(FlagExperimentConfig{}.remote_polls) + ")")
        ->check(whole_number_in(1, std::uint64_t{10'000'000'000}))
        ->capture_default_str();
    sub.add_option("--handoffs", options->handoffs, "timed flag set -> seen hand-offs per run")
        ->check(whole_number_in(1, kMaxFlagHandoffs))
        ->capture_default_str();
    sub.add_option("--redis", options->redis_url,
                   "Redis server for the redis queue and flag (unix:///path, redis://host:port; default: "
                   "a private redis-server on a Unix socket, started and stopped by mpkit); checked "
                   "before anything runs")
        ->check(non_empty())
        ->type_name("URL");
    sub.add_flag("--pin", options->pin,
                 std::string("pin the two processes to two different CPUs (restored afterwards)"));
    sub.add_flag("--unpinned-too", options->unpinned_too,
                 std::string("with --pin: also run every configuration unpinned, side by side"));
    sub.footer(
        "What it measures, between forked processes, for every queue backend of ipc/:\n"
        "  throughput   one producer process pushes --messages payloads, one consumer process\n"
        "               pops them; timed from a start barrier to the last item checked;\n"
        "               messages/s and bytes/s\n"
        "  round trips  the parent sends a payload on one queue, a child echoes it on another;\n"
        "               one clock read per round trip; p50 and p99 (one-way = p50 / 2)\n"
        "Backends: lockfree-spsc (SpscRing, the headline), lockfree-spsc-batch64 (the same ring\n"
        "through try_push_many/try_pop_many, 64 items per call; throughput only),\n"
        "lockfree-mpmc, boost-spsc (Boost.Lockfree with mpkit's spin-then-park waiting),\n"
        "boost-spsc-spin (Boost's spsc_queue busy-polled, never parking: the baseline),\n"
        "locked (LockedRing), boost-mq (Boost message_queue), pipe (PipeQueue, one write(2)\n"
        "per item), manager (a Manager server process holds the queue; a request over a Unix\n"
        "socket per call, like mp.Manager().Queue) and redis (LPUSH/BRPOP on a real server).\n"
        "manager and redis move at most 5000 messages and 2000 round trips per run. --sides 2 adds 2 producers x 2 consumers on one queue for the\n"
        "multi-producer/consumer backends (checked: every item once, in order per producer).\n"
        "Payloads of 8, 64, 1024 and 65536 bytes (all by default). Word i of message k holds\n"
        "k + i; the sender writes every word and the receiver checks every word, so a lost,\n"
        "duplicated, reordered or torn message marks the row incorrect (ok = NO). The pipe\n"
        "cannot carry more than PIPE_BUF (4096) bytes per item: its 64 KiB rows are shown as\n"
        "'skipped', never measured. Queues hold 256 KiB of payload (16..4096 items) and are\n"
        "warmed before timing; large payloads get fewer messages (256 MiB per run at most).\n"
        "Every repeat runs every configuration once, round-robin; tables show min/median/max\n"
        "over repeats, then lockfree-spsc against the fastest other backend and the pipe at\n"
        "64 B. Every wait is bounded: a stuck child is killed and its row marked incorrect.\n"
        "Flags (--flags): atomic (std::atomic byte), rawvalue (plain byte, mp.RawValue), value\n"
        "(byte under a robust mutex, mp.Value), futex (an Event polled with is_set), futex-wait\n"
        "(the watcher sleeps in wait_until: a wake-up, not a poll), redis (GET/SET on a real\n"
        "server) and manager (a request to a Manager server per call). poll = ns per is_set() on a clear flag in one process; set->seen = from the\n"
        "parent's clock read before set() to a watcher process's clock read when it sees the\n"
        "flag (p50, p99 over --handoffs samples; both read CLOCK_MONOTONIC).\n"
        "The defaults take about 2 minutes on 2 cores; `mpkit run` uses 100000 messages,\n"
        "20000 round trips, 8 B to 1 KiB, 1000 flag hand-offs, pinned, 3 repeats (about 30 s).\n"
        "\n"
        "Examples:\n"
        "  mpkit ipc --pin\n"
        "  mpkit ipc --pin --unpinned-too --repeat 9 --json ipc.jsonl\n"
        "  mpkit ipc --bytes 64 --backends lockfree-spsc,pipe --repeat 3   # a quick look\n"
        "  mpkit ipc --backends none --flags atomic,redis --pin             # flags only\n");
    return [options](const std::vector<std::string>& /*argv*/) { return run_ipc(*options); };
  };
  command.quick = [](const SuiteContext& context) {
    const unsigned repeats = context.repeat ? *context.repeat : 3;
    // Pinned in the suite: unpinned, the two sides often share one CPU and the
    // figures flip between two regimes run to run (ARCHITECTURE.md machine notes: pin, report
    // placement).
    const bool pin = machine_info().cores_available >= 2;
    IpcPlan plan;
    TransportConfig queues;
    queues.repeats = repeats;
    queues.messages = 100'000;
    queues.round_trips = 20'000;
    queues.payload_bytes = {8, 64, 1024};
    queues.pin = pin;
    plan.queues = queues;
    FlagExperimentConfig flags;
    flags.repeats = repeats;
    flags.polls = 1'000'000;
    flags.remote_polls = 1000;
    flags.handoffs = 1000;
    flags.pin = pin;
    plan.flags = flags;
    return ipc_report(plan, repeats, pin, false, *context.progress);
  };
  return command;
}

}  // namespace mpkit::cli
