#include "output/format.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

namespace mpkit::cli {
namespace {

// Three significant digits: 1.23, 12.3, 123.
std::string three_digits(double value) {
  const double magnitude = std::fabs(value);
  if (magnitude >= 100 || magnitude == 0) return fmt::format("{:.0f}", value);
  if (magnitude >= 10) return fmt::format("{:.1f}", value);
  return fmt::format("{:.2f}", value);
}

}  // namespace

std::string human_bytes(std::uint64_t bytes) {
  constexpr std::array<const char*, 7> kUnits = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  auto value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string human_seconds(double seconds) {
  if (!std::isfinite(seconds)) return "-";
  const double magnitude = std::fabs(seconds);
  if (magnitude >= 1 || magnitude == 0) return three_digits(seconds) + " s";
  if (magnitude >= 1e-3) return three_digits(seconds * 1e3) + " ms";
  if (magnitude >= 1e-6) return three_digits(seconds * 1e6) + " us";
  return three_digits(seconds * 1e9) + " ns";
}

std::string human_count(double value) {
  if (!std::isfinite(value)) return "-";
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e9) return three_digits(value / 1e9) + " G";
  if (magnitude >= 1e6) return three_digits(value / 1e6) + " M";
  if (magnitude >= 1e3) return three_digits(value / 1e3) + " k";
  return three_digits(value);
}

std::string format_metric(std::string_view key, double value) {
  if (key.ends_with("_per_s")) return human_count(value) + "/s";
  if (key.ends_with("_bytes")) return human_bytes(static_cast<std::uint64_t>(std::max(0.0, value)));
  // "one_way_ns", "rtt_ns_p50", "ns_per_op": nanoseconds.
  if (key.ends_with("_ns") || key.starts_with("ns_") || key.find("_ns_") != std::string_view::npos) {
    return human_seconds(value * 1e-9);
  }
  // Counts (a final value, lost updates, distinct pids) print whole.
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{:.0f}", value);
  }
  return fmt::format("{:.4g}", value);
}

}  // namespace mpkit::cli
