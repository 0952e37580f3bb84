#pragma once

// Measurement: the one row shape every mpkit experiment returns (ARCHITECTURE.md,
// "Measurement conventions"). Experiment libraries fill these and print
// nothing; the CLI turns them into tables and JSON Lines.
//
// - `variant` names the strategy, backend or lock.
// - `params` holds every input that changes the result, in insertion order
//   (the order tables and JSON show them in).
// - `seconds` summarises `repeats` timed runs: min, median, max. One run is
//   never reported on its own: this machine is noisy.
// - `metrics` are derived figures with their unit in the key (`_per_s`,
//   `_ns_p50`, `_bytes`), in insertion order.
// - `correct` is false whenever the answer differs from the expected one (a
//   lost update, a child that never answered).
//
// Example
//   std::vector<double> runs = {0.12, 0.10, 0.11};
//   mpkit::Measurement m{.experiment = "sync", .variant = "spin-handoff", .workers = 2,
//                        .repeats = 3, .seconds = mpkit::summarize(runs), .correct = true};
//   m.metrics.emplace_back("rtt_ns_p50", mpkit::percentile(rtts, 50));

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mpkit {

/// A parameter value: integer, real, flag or text (JSON number/bool/string).
using ParamValue = std::variant<std::int64_t, double, bool, std::string>;

/// min / median / max of a set of samples, in the samples' unit.
struct Summary {
  double min = 0;
  double median = 0;
  double max = 0;
};

/// Summarises `samples`; the median of an even count is the mean of the two
/// middle values.
/// Throws: std::invalid_argument ("summarize: samples is empty") if empty.
[[nodiscard]] Summary summarize(std::span<const double> samples);

/// The p-th percentile (0 <= p <= 100) of `samples`, linearly interpolated
/// between the closest ranks (numpy's default): p = 50 equals the median, p =
/// 0 the min, p = 100 the max.
/// Throws: std::invalid_argument naming the argument if `samples` is empty or
/// `p` lies outside [0, 100] (or is NaN).
[[nodiscard]] double percentile(std::vector<double> samples, double p);

struct Measurement {
  std::string experiment;  ///< "sync", "ipc", "primes", ...
  std::string variant;     ///< the strategy, backend or lock measured
  unsigned workers = 1;    ///< processes (or threads) taking part
  std::vector<std::pair<std::string, ParamValue>> params;
  unsigned repeats = 0;    ///< how many timed runs `seconds` summarises
  Summary seconds;
  std::vector<std::pair<std::string, double>> metrics;
  bool correct = false;
};

/// The value of metric `name` in `m`, if present.
[[nodiscard]] std::optional<double> find_metric(const Measurement& m, std::string_view name);

/// The value of parameter `name` in `m`, if present.
[[nodiscard]] const ParamValue* find_param(const Measurement& m, std::string_view name);

}  // namespace mpkit
