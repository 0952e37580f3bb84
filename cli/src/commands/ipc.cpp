// `mpkit ipc`: messages between two processes through every queue backend
// (run_transport_experiment): throughput and ping-pong round trips.

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
#include <fmt/format.h>

#include "mpkit/ipc/machine.hpp"
#include "mpkit/ipc/transport_experiment.hpp"

namespace mpkit::cli {
namespace {

constexpr std::string_view kHeadline = "lockfree-spsc";
constexpr std::string_view kPipe = "pipe";
constexpr std::string_view kBatch = "lockfree-spsc-batch64";
constexpr std::size_t kRatioBytes = 64;

struct IpcOptions {
  ExperimentOptions common;
  std::uint64_t messages = TransportConfig{}.messages;
  std::uint64_t round_trips = TransportConfig{}.round_trips;
  std::vector<std::size_t> bytes = TransportConfig{}.payload_bytes;
  std::vector<std::string> backends;
  bool pin = false;
  bool unpinned_too = false;
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

// --backends: each element one of the variant names.
CLI::Validator known_backend() {
  const std::vector<std::string> names = backend_words();
  return CLI::Validator(
      [names](std::string& text) -> std::string {
        if (std::find(names.begin(), names.end(), text) != names.end()) return {};
        return fmt::format("unknown backend '{}' (known: {})", text, join(names, ", "));
      },
      "NAME", "known_backend");
}

bool param_is(const Measurement& row, std::string_view key, const ParamValue& want) {
  const ParamValue* value = find_param(row, key);
  return value != nullptr && *value == want;
}

bool is_round_trip(const Measurement& row) {
  return param_is(row, "mode", ParamValue(std::string("round-trip")));
}

std::optional<double> metric_of(const std::vector<Measurement>& rows, std::string_view variant,
                                bool round_trip, bool pinned, std::size_t bytes,
                                std::string_view metric) {
  for (const Measurement& row : rows) {
    if (row.variant == variant && row.correct && is_round_trip(row) == round_trip &&
        param_is(row, "pinned", ParamValue(pinned)) &&
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

// The ratio lines: lockfree-spsc against the fastest other backend and the
// pipe, in messages/s at 64 B; the batch gain; the round-trip ratio.
std::vector<std::string> notes(const std::vector<Measurement>& rows,
                               const TransportConfig& config) {
  std::vector<std::string> out;
  for (const bool pinned : pin_modes(rows)) {
    const std::string where = fmt::format("{} B, {}", kRatioBytes, pinned ? "pinned" : "unpinned");
    const auto mine = metric_of(rows, kHeadline, false, pinned, kRatioBytes, "messages_per_s");
    if (!mine) {
      out.push_back(
          fmt::format("{}: no completed {} throughput row, so no ratio", where, kHeadline));
      continue;
    }
    std::optional<double> best;
    std::string best_name;
    for (const std::string_view name : transport_backends()) {
      if (name.starts_with(kHeadline)) continue;  // itself, and itself batched
      const auto value = metric_of(rows, name, false, pinned, kRatioBytes, "messages_per_s");
      if (value && (!best || *value > *best)) {
        best = value;
        best_name = name;
      }
    }
    std::string line = fmt::format("throughput {}: {} {}", where, kHeadline,
                                   format_metric("messages_per_s", *mine));
    if (best && *best > 0) {
      line += fmt::format(" vs {} {} (fastest other): {:.2f}x", best_name,
                          format_metric("messages_per_s", *best), *mine / *best);
    }
    const auto pipe = metric_of(rows, kPipe, false, pinned, kRatioBytes, "messages_per_s");
    if (pipe && *pipe > 0) {
      line += fmt::format("; vs pipe {}: {:.1f}x", format_metric("messages_per_s", *pipe),
                          *mine / *pipe);
    }
    out.push_back(line);
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

ExperimentReport ipc_report(const TransportConfig& config, Progress& progress) {
  const auto start = std::chrono::steady_clock::now();
  ExperimentReport report;
  report.name = "ipc";
  report.rows =
      run_transport_experiment(config, [&](std::string_view step) { progress.update(step); });
  report.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const unsigned cores = machine_info().cores_available;
  const bool pinned = config.pin && cores >= 2;
  report.summary = fmt::format(
      "messages between 2 processes through every queue backend: {} repeats, {}, {} cores "
      "available (nproc)",
      config.repeats,
      pinned ? (config.unpinned_too ? "pinned and unpinned" : "pinned") : "unpinned", cores);

  std::vector<std::string> words = {"mpkit",         "ipc",
                                    "--repeat",      std::to_string(config.repeats),
                                    "--messages",    std::to_string(config.messages),
                                    "--round-trips", std::to_string(config.round_trips),
                                    "--bytes",       join(size_words(config.payload_bytes), ",")};
  if (!config.backends.empty()) {
    words.emplace_back("--backends");
    words.push_back(join(config.backends, ","));
  }
  if (config.pin) words.emplace_back("--pin");
  if (config.unpinned_too) words.emplace_back("--unpinned-too");
  report.command_line = command_line(words);

  std::vector<bool> modes = pin_modes(report.rows);
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
        rows_table(select(report.rows, false, bytes),
                   {{{"pinned", "pinned"}, {"messages", "messages"}, {"capacity", "capacity"}},
                    {{"messages_per_s", "msgs/s"}, {"bytes_per_s", "bytes/s"}}});
    add_skipped(table, config, modes, {bytes}, false);
    report.tables.push_back(
        {fmt::format("Throughput, {} payloads: 1 producer process -> 1 consumer process, {} "
                     "messages per run{}",
                     human_bytes(bytes), messages,
                     messages < config.messages ? fmt::format(" (capped at {} per run)",
                                                              human_bytes(kMaxTransportBytesPerRun))
                                                : ""),
         std::move(table)});
  }
  Table round_trips = rows_table(
      select(report.rows, true, std::nullopt),
      {{{"bytes", "bytes"}, {"pinned", "pinned"}},
       {{"one_way_ns", "one-way"}, {"rtt_ns_p50", "rtt p50"}, {"rtt_ns_p99", "rtt p99"}}});
  add_skipped(round_trips, config, modes, sizes, true);
  report.tables.push_back(
      {fmt::format("Round trips: parent -> echo process -> parent over two queues, {} per run",
                   config.round_trips),
       std::move(round_trips)});
  report.notes = notes(report.rows, config);
  return report;
}

int run_ipc(const IpcOptions& options) {
  TransportConfig config;
  config.repeats = options.common.repeat;
  config.messages = options.messages;
  config.round_trips = options.round_trips;
  config.payload_bytes = options.bytes;
  config.backends = options.backends;
  config.pin = options.pin;
  config.unpinned_too = options.unpinned_too;
  if (config.unpinned_too && !config.pin) throw UsageError("--unpinned-too: needs --pin");
  try {
    validate_transport_config(config);
  } catch (const std::invalid_argument& error) {
    throw UsageError(error.what());
  }

  return run_experiment_command("ipc", options.common,
                                [&](Progress& progress) { return ipc_report(config, progress); });
}

}  // namespace

Command ipc_command() {
  Command command;
  command.name = "ipc";
  command.summary =
      "Measure message throughput and round trips between processes, every queue backend";
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
    sub.add_option("--bytes", options->bytes, "payload sizes in bytes, comma-separated")
        ->delimiter(',')
        ->check(supported_size())
        ->type_name("LIST")
        ->capture_default_str();
    sub.add_option("--backends", options->backends,
                   "backends to measure, comma-separated (default: all: " +
                       join(backend_words(), ", ") + ")")
        ->delimiter(',')
        ->check(known_backend())
        ->type_name("LIST");
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
        "lockfree-mpmc, boost-spsc (Boost.Lockfree), locked (LockedRing), boost-mq (Boost\n"
        "message_queue) and pipe (PipeQueue, one write(2) per item).\n"
        "Payloads of 8, 64, 1024 and 65536 bytes (all by default). Word i of message k holds\n"
        "k + i; the sender writes every word and the receiver checks every word, so a lost,\n"
        "duplicated, reordered or torn message marks the row incorrect (ok = NO). The pipe\n"
        "cannot carry more than PIPE_BUF (4096) bytes per item: its 64 KiB rows are shown as\n"
        "'skipped', never measured. Queues hold 256 KiB of payload (16..4096 items) and are\n"
        "warmed before timing; large payloads get fewer messages (256 MiB per run at most).\n"
        "Every repeat runs every configuration once, round-robin; tables show min/median/max\n"
        "over repeats, then lockfree-spsc against the fastest other backend and the pipe at\n"
        "64 B. Every wait is bounded: a stuck child is killed and its row marked incorrect.\n"
        "The defaults take about 1.5 minutes on 2 cores; `mpkit run` uses 100000 messages,\n"
        "20000 round trips, 8 B to 1 KiB, pinned, 3 repeats (about 20 s).\n"
        "\n"
        "Examples:\n"
        "  mpkit ipc --pin\n"
        "  mpkit ipc --pin --unpinned-too --repeat 9 --json ipc.jsonl\n"
        "  mpkit ipc --bytes 64 --backends lockfree-spsc,pipe --repeat 3   # a quick look\n");
    return [options](const std::vector<std::string>& /*argv*/) { return run_ipc(*options); };
  };
  command.quick = [](const SuiteContext& context) {
    TransportConfig config;
    config.repeats = 3;
    if (context.repeat) config.repeats = *context.repeat;
    config.messages = 100'000;
    config.round_trips = 20'000;
    config.payload_bytes = {8, 64, 1024};
    // Pinned in the suite: unpinned, the two sides often share one CPU and the
    // figures flip between two regimes run to run (NOTES.md: pin, report placement).
    config.pin = machine_info().cores_available >= 2;
    return ipc_report(config, *context.progress);
  };
  return command;
}

}  // namespace mpkit::cli
