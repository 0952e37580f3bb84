#include "mpkit/ipc/experiments/measurement.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "mpkit/ipc/error.hpp"

namespace mpkit {

Summary summarize(std::span<const double> samples) {
  if (samples.empty()) throw_invalid_argument("summarize: samples is empty");
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  const double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return Summary{sorted.front(), median, sorted.back()};
}

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) throw_invalid_argument("percentile: samples is empty");
  // Written so that NaN fails the test too.
  if (!(p >= 0 && p <= 100)) {
    throw_invalid_argument("percentile: p must lie in [0, 100] (got " + std::to_string(p) + ")");
  }
  // Rank in [0, n-1]; interpolate between the two closest order statistics.
  // nth_element twice is O(n), which matters for 10^5-sample latency runs.
  const double rank = p / 100 * static_cast<double>(samples.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = static_cast<std::size_t>(std::ceil(rank));
  const auto lo_it = samples.begin() + static_cast<std::ptrdiff_t>(lo);
  std::nth_element(samples.begin(), lo_it, samples.end());
  const double lo_value = *lo_it;
  if (hi == lo) return lo_value;
  // After nth_element everything right of lo_it is >= it: the next order
  // statistic is the smallest of that part.
  const double hi_value = *std::min_element(lo_it + 1, samples.end());
  return lo_value + (hi_value - lo_value) * (rank - static_cast<double>(lo));
}

std::optional<double> find_metric(const Measurement& m, std::string_view name) {
  for (const auto& [key, value] : m.metrics) {
    if (key == name) return value;
  }
  return std::nullopt;
}

const ParamValue* find_param(const Measurement& m, std::string_view name) {
  for (const auto& [key, value] : m.params) {
    if (key == name) return &value;
  }
  return nullptr;
}

}  // namespace mpkit
