#pragma once

// Samples and Repeats: what an experiment keeps of one row across its
// repeated runs, and how that becomes the row's `repeats`, `seconds` and
// `correct` (ARCHITECTURE.md, "Measurement conventions": `seconds` summarises
// `repeats` runs, never a single one; report medians).
//
// - Samples: the values of one figure, one per run (seconds, a p50, a
//   throughput), summarised as min / median / max or any percentile
//   (measurement.hpp's summarize and percentile).
// - Repeats: one row's runs. A run either failed (fail(): not timed, the
//   row is no longer correct) or completed (add(seconds)): its time counts,
//   and `right = false` marks a completed run whose answer was wrong (timed,
//   and the row incorrect). A completed run may bring other figures (a p50,
//   a rate), kept as Samples under their names -- the metric keys they
//   become, by convention -- in the order first seen. fill(row) sets repeats
//   = completed runs, seconds = their summary (left zero when none
//   completed) and correct = every run completed and was right, and at
//   least one completed.
//
// Example
//   mpkit::Repeats runs;
//   for (unsigned r = 0; r < repeats; ++r) {
//     const Sample s = measure_once();
//     if (!s.ok) runs.fail();
//     else runs.add(s.seconds, {{"rtt_ns_p50", s.rtt_ns_p50}});
//   }
//   mpkit::Measurement row{.experiment = "ipc", .variant = "pipe"};
//   runs.fill(row);
//   if (row.repeats > 0) row.metrics = {{"rtt_ns_p50", runs.figure("rtt_ns_p50").median()}};

#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mpkit/ipc/experiments/measurement.hpp"

namespace mpkit {

/// The values of one figure across runs, in the order they were added.
class Samples {
 public:
  void add(double value) { values_.push_back(value); }

  [[nodiscard]] bool empty() const noexcept { return values_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return values_.size(); }
  [[nodiscard]] std::span<const double> values() const noexcept { return values_; }

  /// min / median / max. Throws: std::invalid_argument when empty.
  [[nodiscard]] Summary summary() const { return summarize(values_); }
  /// Throws: std::invalid_argument when empty.
  [[nodiscard]] double median() const { return summary().median; }
  [[nodiscard]] double min() const { return summary().min; }
  [[nodiscard]] double max() const { return summary().max; }
  /// The median, or `fallback` when there is no sample.
  [[nodiscard]] double median_or(double fallback) const { return empty() ? fallback : median(); }
  /// The p-th percentile (measurement.hpp). Throws: std::invalid_argument
  /// when empty or p outside [0, 100].
  [[nodiscard]] double percentile(double p) const { return mpkit::percentile(values_, p); }

 private:
  std::vector<double> values_;
};

/// A figure of one run, by name.
struct Figure {
  std::string_view name;
  double value = 0;
};

/// One row's runs: the seconds of those that completed, their other figures,
/// and whether every run completed with the right answer.
class Repeats {
 public:
  /// A run that did not complete (a child stalled, a backend failed): not
  /// timed; the row is no longer correct.
  void fail() noexcept { all_right_ = false; }
  /// A run that completed in `seconds`, with its other figures; `right`
  /// false: its answer was wrong (timed all the same, and the row is no
  /// longer correct).
  void add(double seconds, std::initializer_list<Figure> figures = {}, bool right = true) {
    seconds_.add(seconds);
    for (const Figure& f : figures) note(f.name, f.value);
    all_right_ = all_right_ && right;
  }
  void add(double seconds, bool right) { add(seconds, {}, right); }
  /// One more figure of a completed run (for figures only some runs have).
  void note(std::string_view name, double value) { samples_of(name).add(value); }

  /// The samples of figure `name` (empty if no run had it).
  [[nodiscard]] const Samples& figure(std::string_view name) const noexcept {
    static const Samples kNone;
    for (const auto& [key, samples] : figures_) {
      if (key == name) return samples;
    }
    return kNone;
  }

  /// Runs that completed (the row's `repeats`).
  [[nodiscard]] unsigned completed() const noexcept {
    return static_cast<unsigned>(seconds_.size());
  }
  [[nodiscard]] const Samples& seconds() const noexcept { return seconds_; }
  /// No run failed or was wrong (true before any run).
  [[nodiscard]] bool all_right() const noexcept { return all_right_; }
  /// all_right() and at least one run completed: the row's `correct`.
  [[nodiscard]] bool correct() const noexcept { return all_right_ && !seconds_.empty(); }

  /// Sets row.repeats, row.seconds (only when a run completed) and row.correct.
  void fill(Measurement& row) const {
    row.repeats = completed();
    if (!seconds_.empty()) row.seconds = seconds_.summary();
    row.correct = correct();
  }

 private:
  Samples& samples_of(std::string_view name) {
    for (auto& [key, samples] : figures_) {
      if (key == name) return samples;
    }
    return figures_.emplace_back(std::string(name), Samples{}).second;
  }

  Samples seconds_;
  std::vector<std::pair<std::string, Samples>> figures_;  // in the order first noted
  bool all_right_ = true;
};

}  // namespace mpkit
